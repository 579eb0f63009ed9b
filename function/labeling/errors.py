"""The three ways an event can go wrong, and what each means for the Pub/Sub message.

- `ConfigError`: the deployment is wrong; raised at startup so the revision never serves.
- `BadMessage` / `ImageFailed`: the message or its image is at fault; a `failed` result is published (when
  an id is known) and the message is acknowledged, never retried.
- `TransientError`: not the message's fault (Vision or Pub/Sub trouble); raised so Pub/Sub redelivers.
"""

from __future__ import annotations

MessageId = int | str


class ConfigError(Exception):
    """A required environment variable is missing or a setting is invalid."""


class BadMessage(Exception):
    """The Pub/Sub message cannot be processed as sent: acknowledge, never retry."""

    def __init__(self, code: str, message: str, image_id: MessageId | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.image_id = image_id


class ImageFailed(Exception):
    """Vision says the image itself is unusable (missing, unreadable, not an image)."""

    def __init__(self, code: str, message: str, vision_code: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.vision_code = vision_code


class TransientError(Exception):
    """Trouble that is not the message's fault: the message must be redelivered."""

    image_id: MessageId | None = None  # set once known, for the log line
    uri: str | None = None  # the image's gs:// URI once known, kept out of the log line
