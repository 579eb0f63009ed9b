"""In-process wire fakes of Cloud Vision and Pub/Sub serving the real message types over gRPC, and the
shapes in which Pub/Sub delivers a message: what the benchmark measures the function against, and
what the test suites run it against."""
