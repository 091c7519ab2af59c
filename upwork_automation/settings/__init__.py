"""Settings package: `base` for development and tests, `production` for deployment."""
