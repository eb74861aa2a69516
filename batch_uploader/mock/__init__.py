"""A local, Argos-compatible server for the demo, the tests and the benchmark.

It knows the vendor's contract from `batch_uploader.api` and imports nothing of the client
side, so a wrong constant in the client cannot be mirrored here.
"""
