"""Export PicoDet models to deployment formats (see formats.FORMATS) and verify the artifacts."""
