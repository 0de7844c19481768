#!/usr/bin/env python3
"""Writes the golden files that tests/data/test_augment_golden.cpp compares fovea's
augmentations (data/augment.h) against: the reference ops of the papers' pipelines applied,
with fixed parameters, to a fixed 13x17 RGB u8 image.

The references are torchvision's functional ops on PIL images (the DPC, CMC and MoCo data
pipelines all feed PIL images), MoCo-v2's Gaussian blur (PIL ImageFilter.GaussianBlur),
DPC's channel-copy "grayscale" and CMC's RGB2Lab (skimage.color.rgb2lab) + Normalize.

  augment_geometry.txt  resized crops (PIL bilinear with its antialiasing, PIL nearest),
                        torchvision centre crops, horizontal flip, and the boxes of
                        RandomResizedCrop.get_params when all 10 tries fail (its fallback).
  augment_color.txt     adjust_brightness / contrast / saturation / hue one at a time and
                        chained in a given order (ColorJitter.forward with fixed parameters),
                        rgb_to_grayscale, DPC's channel copy, PIL GaussianBlur(radius=sigma).
  augment_float.txt     ToTensor + Normalize (ImageNet statistics), skimage rgb2lab and CMC's
                        Lab normalisation.

Usage:  pip install torch torchvision 'pillow<13' scikit-image numpy
        python3 tools/make_augment_goldens.py [--out tests/golden]
Pillow 13 changed its bilinear resampler (it sometimes runs the vertical pass first, moving
values by one level); Pillow 12 and earlier, which the papers ran, match data/augment.cpp.
The file format is that of tools/make_goldens.py (tests/golden.cpp reads it). u8 images are
i64 tensors [H, W, 3]; float outputs are f64 tensors [3, H, W].
"""
import argparse
import pathlib
import sys

import numpy as np
import PIL
import skimage
import torch
import torchvision
from PIL import Image, ImageFilter
from skimage import color
from torchvision import transforms
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_goldens import GoldenWriter  # noqa: E402

INTERPOLATION_CODES = {InterpolationMode.BILINEAR: 0, InterpolationMode.NEAREST: 1}  # test_augment_golden.cpp
CMC_LAB_MEAN = [(0 + 100) / 2, (-86.183 + 98.233) / 2, (-107.857 + 94.478) / 2]
CMC_LAB_STD = [(100 - 0) / 2, (86.183 + 98.233) / 2, (107.857 + 94.478) / 2]
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def writer(out: pathlib.Path, name: str, description: str) -> GoldenWriter:
    w = GoldenWriter(out / name, description)
    w.lines[1] = (f"# written by tools/make_augment_goldens.py with torch {torch.__version__}, torchvision "
                  f"{torchvision.__version__}, Pillow {PIL.__version__}, scikit-image {skimage.__version__}")
    return w


def test_image() -> np.ndarray:
    """13x17 RGB u8: random pixels, a grey ramp row, saturated and extreme colours."""
    g = torch.Generator().manual_seed(20240620)
    img = torch.randint(0, 256, (13, 17, 3), generator=g, dtype=torch.uint8).numpy().copy()
    img[0] = np.stack([np.linspace(0, 255, 17).round().astype(np.uint8)] * 3, axis=1)
    extremes = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255),
                (255, 255, 255), (0, 0, 0), (128, 128, 128), (255, 128, 0), (1, 0, 0), (254, 255, 255),
                (10, 200, 10), (200, 10, 200), (3, 2, 1), (250, 251, 252), (127, 0, 255)]
    img[6] = np.array(extremes, dtype=np.uint8)
    return img


def u8(pil_image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(pil_image, dtype=np.uint8).astype(np.int64))


def make_geometry(out: pathlib.Path, img: np.ndarray):
    w = writer(out, "augment_geometry.txt", "torchvision resized_crop / center_crop / hflip on PIL images, "
               "RandomResizedCrop.get_params fallback boxes")
    pil = Image.fromarray(img, "RGB")
    w.tensor("input", torch.from_numpy(img.astype(np.int64)))
    # (top, left, height, width), (out height, out width), interpolation
    crops = [((0, 0, 13, 17), (7, 9), InterpolationMode.BILINEAR),    # shrink both ways (antialiased)
             ((0, 0, 13, 17), (4, 5), InterpolationMode.BILINEAR),    # shrink by > 3
             ((0, 0, 13, 17), (20, 31), InterpolationMode.BILINEAR),  # enlarge
             ((0, 0, 13, 17), (13, 9), InterpolationMode.BILINEAR),   # one axis only
             ((0, 0, 13, 17), (13, 17), InterpolationMode.BILINEAR),  # identity
             ((2, 3, 8, 11), (5, 6), InterpolationMode.BILINEAR),
             ((1, 0, 12, 10), (16, 16), InterpolationMode.BILINEAR),
             ((4, 5, 9, 3), (9, 7), InterpolationMode.BILINEAR),      # shrink one axis, enlarge the other
             ((0, 0, 13, 17), (7, 9), InterpolationMode.NEAREST),
             ((3, 2, 9, 13), (20, 6), InterpolationMode.NEAREST),
             ((1, 1, 11, 15), (11, 15), InterpolationMode.NEAREST)]
    for i, ((top, left, h, wd), size, mode) in enumerate(crops):
        result = F.resized_crop(pil, top, left, h, wd, list(size), interpolation=mode)
        w.tensor(f"crop{i}/box", torch.tensor([top, left, h, wd]))
        w.tensor(f"crop{i}/size", torch.tensor(size))
        w.tensor(f"crop{i}/interpolation", torch.tensor(INTERPOLATION_CODES[mode]))
        w.tensor(f"crop{i}/out", u8(result))
    # Odd margins: torchvision rounds (H - h) / 2 half to even.
    for i, size in enumerate([(4, 6), (8, 8), (12, 16), (13, 17), (1, 2)]):
        w.tensor(f"center{i}/size", torch.tensor(size))
        w.tensor(f"center{i}/out", u8(F.center_crop(pil, list(size))))
    w.tensor("flip/out", u8(F.hflip(pil)))
    # Frames so thin that all 10 tries fail, so get_params returns its deterministic fallback.
    fallbacks = [((1, 100), (0.08, 1.0), (3 / 4, 4 / 3)),
                 ((300, 2), (0.5, 1.0), (0.8, 1.25)),   # h = round(2.5): half to even
                 ((200, 3), (0.08, 1.0), (3 / 4, 4 / 3)),
                 ((2, 301), (0.5, 1.0), (0.8, 1.25)),   # w = round(2.5)
                 ((1, 5), (0.9, 1.0), (0.5, 2.0))]
    torch.manual_seed(0)
    for i, ((h, wd), scale, ratio) in enumerate(fallbacks):
        box = transforms.RandomResizedCrop.get_params(torch.zeros(3, h, wd), list(scale), list(ratio))
        w.tensor(f"fallback{i}/frame", torch.tensor([h, wd]))
        w.tensor(f"fallback{i}/scale", torch.tensor(scale, dtype=torch.float64))
        w.tensor(f"fallback{i}/ratio", torch.tensor(ratio, dtype=torch.float64))
        w.tensor(f"fallback{i}/box", torch.tensor(box))
    w.save()


def jitter(pil, order, factors):
    """ColorJitter.forward with fixed parameters; a factor of None skips that op."""
    ops = [F.adjust_brightness, F.adjust_contrast, F.adjust_saturation, F.adjust_hue]
    for op in order:
        if factors[op] is not None:
            pil = ops[op](pil, factors[op])
    return pil


def make_color(out: pathlib.Path, img: np.ndarray):
    w = writer(out, "augment_color.txt", "torchvision adjust_* / ColorJitter order / rgb_to_grayscale on PIL "
               "images, DPC channel copy, PIL GaussianBlur (MoCo-v2)")
    pil = Image.fromarray(img, "RGB")
    w.tensor("input", torch.from_numpy(img.astype(np.int64)))
    singles = [(0, 0.6), (0, 1.37), (0, 0.0), (1, 0.45), (1, 1.5), (1, 0.0), (2, 0.3), (2, 1.62), (2, 0.0),
               (3, 0.1), (3, -0.25), (3, 0.5), (3, -0.5), (3, 0.004), (3, 0.0)]
    for i, (op, factor) in enumerate(singles):
        factors = [None] * 4
        factors[op] = factor
        w.tensor(f"single{i}/op", torch.tensor(op))
        w.tensor(f"single{i}/factor", torch.tensor(factor, dtype=torch.float64))
        w.tensor(f"single{i}/out", u8(jitter(pil, [op], factors)))
    # (order, [brightness, contrast, saturation, hue]); NaN in the file marks a skipped op.
    chains = [([0, 1, 2, 3], [1.3, 0.7, 1.4, 0.08]),
              ([3, 2, 1, 0], [1.3, 0.7, 1.4, 0.08]),
              ([2, 0, 3, 1], [0.55, 1.45, 0.6, -0.2]),
              ([1, 3, 0, 2], [1.1, None, 0.9, None])]
    for i, (order, factors) in enumerate(chains):
        w.tensor(f"chain{i}/order", torch.tensor(order))
        w.tensor(f"chain{i}/factors", torch.tensor([float("nan") if f is None else f for f in factors],
                                                   dtype=torch.float64))
        w.tensor(f"chain{i}/out", u8(jitter(pil, order, factors)))
    w.tensor("gray/out", u8(F.rgb_to_grayscale(pil, num_output_channels=3)))
    for channel in range(3):  # DPC augmentation.py RandomGray.grayscale with a fixed channel
        plane = img[:, :, channel]
        w.tensor(f"channel{channel}/out", torch.from_numpy(np.dstack([plane] * 3).astype(np.int64)))
    for i, sigma in enumerate([0.1, 0.5, 1.0, 1.37, 2.0]):  # MoCo-v2 GaussianBlur: sigma in [0.1, 2]
        w.tensor(f"blur{i}/sigma", torch.tensor(sigma, dtype=torch.float64))
        w.tensor(f"blur{i}/out", u8(pil.filter(ImageFilter.GaussianBlur(radius=sigma))))
    w.save()


def make_float(out: pathlib.Path, img: np.ndarray):
    w = writer(out, "augment_float.txt", "ToTensor + Normalize(ImageNet) and CMC RGB2Lab (skimage) + "
               "ToTensor + Normalize(Lab statistics)")
    pil = Image.fromarray(img, "RGB")
    w.tensor("input", torch.from_numpy(img.astype(np.int64)))
    w.tensor("normalize/out", F.normalize(F.to_tensor(pil), IMAGENET_MEAN, IMAGENET_STD))
    lab = color.rgb2lab(np.asarray(pil, np.uint8))
    w.tensor("lab/raw", torch.from_numpy(lab))
    w.tensor("lab/out", F.normalize(F.to_tensor(lab), CMC_LAB_MEAN, CMC_LAB_STD))
    w.save()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "golden"))
    out = pathlib.Path(parser.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    img = test_image()
    make_geometry(out, img)
    make_color(out, img)
    make_float(out, img)


if __name__ == "__main__":
    main()
