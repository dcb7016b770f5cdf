"""The AWS wiring: the Lambda handler, configuration from secrets, logs and metrics."""
