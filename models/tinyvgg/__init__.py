"""TinyVGG of the popular PyTorch course: two VGG blocks and a dense classifier."""
