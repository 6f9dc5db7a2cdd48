"""Reading images from disk: decode, EXIF orientation, colour conversion, content hashes."""
