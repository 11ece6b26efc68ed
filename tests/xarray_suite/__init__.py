"""xarray's own zarr tests, run with every write and open going through xzarrio."""
