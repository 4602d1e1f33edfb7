"""What is learned: the data, augmentation, models, exits and losses of the papers and the report, and
the registry of experiments (with the report's phases and their runs) and the published numbers."""
