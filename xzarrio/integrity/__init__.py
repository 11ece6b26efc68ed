"""Integrity you can check: chunk checksums, digests of the data written, and ``verify``.

- :mod:`~xzarrio.integrity.checksums`: crc32c on every chunk xzarrio encodes.
- :mod:`~xzarrio.integrity.digests`: the digest of every chunk a write stores.
- :mod:`~xzarrio.integrity.manifest`: those digests, per variable, beside the array.
- :mod:`~xzarrio.integrity.record`: each group's record of its manifests and their digests.
- :mod:`~xzarrio.integrity.verify`: every chunk read and checked against them.
"""
