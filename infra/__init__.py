"""The AI-Service's Pulumi program (`pulumi up` runs `__main__.py`); the repository installs it as a package."""
