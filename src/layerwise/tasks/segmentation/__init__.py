"""segmentation: a class for every pixel (cells, membranes, lesions, land cover)."""
