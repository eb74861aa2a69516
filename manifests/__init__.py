"""Example manifests; installed as `batch_uploader.examples` so that `demo` can find them."""
