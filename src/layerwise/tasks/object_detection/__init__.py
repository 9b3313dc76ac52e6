"""object-detection: boxes around the objects in a user's photos."""
