"""pmed: the command line and the settings shared by the feature, training and serving packages."""
