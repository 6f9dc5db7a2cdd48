from PIL import Image

from labelfix.images.resolution import MIN_SIDE, auto_input_size, typical_short_side


def test_small_images_are_upscaled_about_five_times_within_the_limits():
    assert auto_input_size(32, 224) == 160  # CIFAR-sized images: 5 x 32
    assert auto_input_size(20, 224) == MIN_SIDE  # never below 128 px
    assert auto_input_size(500, 224) == 224  # never above the model's default
    assert auto_input_size(30, 224) % 32 == 0  # a multiple of 32
    assert auto_input_size(None, 224) == 224  # nothing readable: the default


def test_typical_short_side_reads_headers_and_skips_unreadable_files(tmp_path):
    sizes = [(40, 30), (50, 32), (64, 64)]
    paths = []
    for index, size in enumerate(sizes):
        paths.append(tmp_path / f"{index}.png")
        Image.new("RGB", size).save(paths[-1])
    (tmp_path / "broken.png").write_bytes(b"no image")
    assert typical_short_side([*paths, tmp_path / "broken.png"]) == 32
    assert typical_short_side([]) is None
