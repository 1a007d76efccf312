"""Tools of the bundle: the validator, the image builder and the docs generator. Never installed
into the serving images."""
