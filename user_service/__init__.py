"""The reference User-Service: its stack (user_service.stack), local tooling (user_service.local);
the deployed code is user_service/function (package user_uploads). docs/user-service.md."""
