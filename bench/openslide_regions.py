"""OpenSlide's side of `sds bench --regions`: read the same regions with OpenSlide (Debian python3-openslide) and
print JSON {"ms_per_region": ..., "levels": ...}, or {"error": ...} when OpenSlide cannot open the slide.
Usage: python3 openslide_regions.py '{"path": ..., "level": 0, "regions": [[x, y, w, h], ...]}'"""
import json
import sys
import time

job = json.loads(sys.argv[1])
try:
    import openslide
except ImportError as e:
    print(json.dumps({"error": f"python3-openslide is not installed ({e})"}))
    sys.exit(0)
try:
    start = time.perf_counter()
    slide = openslide.OpenSlide(job["path"])
    opened = time.perf_counter()
    for x, y, w, h in job["regions"]:
        slide.read_region((x, y), job["level"], (w, h)).load()
    done = time.perf_counter()
    print(json.dumps({
        "open_ms": (opened - start) * 1000,
        "ms_per_region": (done - opened) * 1000 / len(job["regions"]),
        "levels": slide.level_count,
        "version": openslide.__library_version__,
    }))
except Exception as e:  # OpenSlide cannot open it (DICOM, OME SubIFDs...): reported, not fatal
    print(json.dumps({"error": str(e).splitlines()[0] if str(e) else type(e).__name__}))
