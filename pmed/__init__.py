"""pmed: the command line on top of the kernel, features, training and serving packages (imported by none)."""
