"""The unittest face: TDDTestCase, its assertions and helpers, the runner and test discovery."""
