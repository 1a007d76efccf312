"""The test suites; ``tests.support`` holds what they share."""
