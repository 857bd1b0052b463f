"""modic-pipeline: Modic endplate changes and exclusion findings from lumbar spine MRI reports."""

__version__ = "0.1.0"
