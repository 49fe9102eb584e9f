"""placeholder"""
class ChunkedSession:
    pass
