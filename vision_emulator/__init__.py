"""A local Cloud Vision emulator: `ImageAnnotator.BatchAnnotateImages` over gRPC, answered by a small
on-device detector (SSD-MobileNetV2 trained on Open Images V4, 23 classes). See docs/vision-emulator.md.

This module imports nothing heavy: `python -m vision_emulator.install` runs on a bare Python.
"""
