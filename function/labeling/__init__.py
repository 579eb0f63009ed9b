"""The AI-Service's labeling core: parse the event, ask Vision, decide, publish the result."""
