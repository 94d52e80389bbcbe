#!/usr/bin/python3
"""Writes tests/fixtures/image_files/: small JPEG and PNG files and, for each
good one, the RGB pixels transformers' load_image gives for it
(PIL.Image.open -> ImageOps.exif_transpose -> convert("RGB")), which
tests/examples_support/test_image_file.cpp requires examples/image_file.hpp
to reproduce exactly. Bad files come with the words their error must contain;
this script checks that PIL refuses each of them too.

Run with Debian's Python (Pillow 9.4.0 on libjpeg-turbo 2.1.5, numpy):

    /usr/bin/python3 tests/reference/make_image_file_fixtures.py

Files (all in tests/fixtures/image_files/):
  cases.txt       one line per file: "good<TAB>NAME" or "bad<TAB>NAME<TAB>WORDS"
  NAME            the image file
  NAME.rgb        (good files) u32 LE width, u32 LE height, then height rows of
                  width RGB pixels
Deterministic: re-running writes identical files.
"""
import io
import os
import struct
import sys
import warnings
import zlib

import numpy as np
import PIL
from PIL import Image, ImageOps, PngImagePlugin

assert PIL.__version__ == "9.4.0", f"needs Debian's Pillow 9.4.0, got {PIL.__version__} (run /usr/bin/python3)"
warnings.simplefilter("ignore")

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "image_files")
rng = np.random.default_rng(20240611)
cases = []


def picture(w, h, channels=3):
    """Smooth gradients plus noise and a hard edge: chroma subsampling,
    upsampling and the orientation all show in the pixels."""
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / max(w - 1, 1), y * 255 / max(h - 1, 1), (x + y) * 127 / max(w + h - 2, 1)], -1)
    base[: h // 3, : w // 2] = [250, 20, 40]
    base = base + rng.normal(0, 12, base.shape)
    img = np.clip(base, 0, 255).astype(np.uint8)
    if channels == 1:
        return img[..., 0]
    if channels == 4:
        return np.concatenate([img, rng.integers(0, 256, (h, w, 1), dtype=np.uint8)], -1)
    return img


def expected_pixels(path):
    im = Image.open(path)
    return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def good(name, data):
    write(name, data)
    px = expected_pixels(os.path.join(OUT, name))
    h, w, _ = px.shape
    write(name + ".rgb", struct.pack("<II", w, h) + px.tobytes())
    cases.append(f"good\t{name}")


def bad(name, data, words, pil_refuses=True):
    """pil_refuses=False: PIL opens it but the loader need not (a GIF)."""
    write(name, data)
    if not pil_refuses:
        cases.append(f"bad\t{name}\t{words}")
        return
    try:
        ImageOps.exif_transpose(Image.open(os.path.join(OUT, name))).convert("RGB")
    except Exception:
        pass
    else:
        sys.exit(f"{name}: PIL decodes it; it is not a bad file")
    cases.append(f"bad\t{name}\t{words}")


def pil_bytes(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def exif_block(orientation, endian="<", typ=3, count=1, value=None, extra=b""):
    """A TIFF block with IFD0 = one entry 0x0112, prefixed "Exif\\0\\0"."""
    pre = b"II*\x00" if endian == "<" else b"MM\x00*"
    if value is None:
        value = struct.pack(endian + "H", orientation)
    ifd = struct.pack(endian + "H", 1) + struct.pack(endian + "HHI", 0x112, typ, count) + value.ljust(4, b"\0")
    return b"Exif\0\0" + pre + struct.pack(endian + "I", 8) + ifd + struct.pack(endian + "I", 0) + extra


# ---- PNG writer (every color type, bit depth, Adam7, chunk placement) -------

def chunk(ctype, data, crc=None):
    c = zlib.crc32(ctype + data) & 0xFFFFFFFF if crc is None else crc
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", c)


def pack_rows(samples, bits):
    """samples: (h, w, c) integers -> list of filtered (type 0) scanlines."""
    h = samples.shape[0]
    rows = []
    for y in range(h):
        flat = samples[y].reshape(-1).astype(np.uint32)
        if bits == 16:
            raw = flat.astype(">u2").tobytes()
        elif bits == 8:
            raw = flat.astype(np.uint8).tobytes()
        else:
            per = 8 // bits
            pad = (-len(flat)) % per
            f = np.concatenate([flat, np.zeros(pad, np.uint32)]).reshape(-1, per)
            shifts = np.array([8 - bits * (i + 1) for i in range(per)], np.uint32)
            raw = (f << shifts).sum(1).astype(np.uint8).tobytes()
        rows.append(b"\0" + raw)
    return rows


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png(samples, bits, ctype, interlace=False, plte=None, before_idat=b"", after_idat=b"", idat_crc=None):
    if samples.ndim == 2:
        samples = samples[..., None]
    h, w, _ = samples.shape
    if interlace:
        rows = []
        for x0, y0, dx, dy in ADAM7:
            sub = samples[y0::dy, x0::dx]
            if sub.size:
                rows += pack_rows(sub, bits)
    else:
        rows = pack_rows(samples, bits)
    s = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bits, ctype, 0, 0, int(interlace)))
    if plte is not None:
        s += chunk(b"PLTE", np.asarray(plte, np.uint8).tobytes())
    s += before_idat + chunk(b"IDAT", zlib.compress(b"".join(rows), 9), idat_crc) + after_idat
    return s + chunk(b"IEND", b"")


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    W, H = 19, 13  # not a multiple of the 8/16-pixel blocks
    rgb = Image.fromarray(picture(W, H))

    # ---- JPEG -----------------------------------------------------------
    good("rgb420.jpg", pil_bytes(rgb, "JPEG", quality=90, subsampling=2))
    good("rgb422.jpg", pil_bytes(rgb, "JPEG", quality=90, subsampling=1))
    good("rgb444.jpg", pil_bytes(rgb, "JPEG", quality=95, subsampling=0))
    good("gray.jpg", pil_bytes(Image.fromarray(picture(W, H, 1)), "JPEG", quality=90))
    good("progressive.jpg", pil_bytes(rgb, "JPEG", quality=85, progressive=True))
    good("cmyk.jpg", pil_bytes(rgb.convert("CMYK"), "JPEG", quality=90))
    big = Image.fromarray(picture(67, 45))  # several MCU rows and columns, 4:2:0
    good("rgb420_67x45.jpg", pil_bytes(big, "JPEG", quality=80))
    for o in range(1, 9):
        good(f"orient{o}.jpg", pil_bytes(rgb, "JPEG", quality=90, exif=exif_block(o)))
    good("orient6_be.jpg", pil_bytes(rgb, "JPEG", quality=90, exif=exif_block(6, ">")))
    good("orient8_long.jpg", pil_bytes(rgb, "JPEG", quality=90, exif=exif_block(8, typ=4, value=struct.pack("<I", 8))))
    # RATIONAL 6/1: PIL compares 6.0 == 6 and rotates.
    good("orient6_rational.jpg", pil_bytes(rgb, "JPEG", quality=90,
                                           exif=exif_block(0, typ=5, value=struct.pack("<I", 26), extra=struct.pack("<II", 12, 2))))
    # BYTE 6: bytes to PIL, no rotation.
    good("orient6_byte.jpg", pil_bytes(rgb, "JPEG", quality=90, exif=exif_block(0, typ=1, value=b"\x06")))
    # Hostile EXIF: a value offset far outside the block, an IFD offset past
    # the end, a header that is not TIFF: no rotation, no crash.
    good("exif_bad_offset.jpg", pil_bytes(rgb, "JPEG", quality=90,
                                          exif=exif_block(0, count=3, value=struct.pack("<I", 0xFFFFFFF0))))
    good("exif_bad_ifd.jpg", pil_bytes(rgb, "JPEG", quality=90,
                                       exif=b"Exif\0\0II*\x00" + struct.pack("<I", 0x7FFFFFFF)))
    good("exif_not_tiff.jpg", pil_bytes(rgb, "JPEG", quality=90, exif=b"Exif\0\0XX*\x00\x08\0\0\0\0\0"))
    base = pil_bytes(rgb, "JPEG", quality=90)
    bad("no_eoi.jpg", base[:-2], "image file is truncated")  # PIL: the decoder asks for more data
    sos = base.index(b"\xff\xda")
    mid = (sos + len(base)) // 2
    corrupt = bytearray(base)
    corrupt[mid:mid + 6] = b"\x13\x57\x9b\xdf\x24\x68"
    good("corrupt_scan.jpg", bytes(corrupt))  # libjpeg warns, PIL decodes the garbage: so does the loader
    bad("truncated.jpg", base[: (sos + len(base)) // 2], "image file is truncated")
    bad("truncated_header.jpg", base[:sos - 40], "image file is truncated")
    bad("truncated_progressive.jpg", pil_bytes(big, "JPEG", quality=85, progressive=True)[:600], "image file is truncated")
    sof = base.index(b"\xff\xc0")
    badsof = bytearray(base)
    badsof[sof + 4] = 12  # 12-bit precision
    bad("precision12.jpg", bytes(badsof), "bad JPEG")
    huge = bytearray(base)
    huge[sof + 5:sof + 9] = struct.pack(">HH", 65000, 65000)
    bad("huge_65000x65000.jpg", bytes(huge), "more than the limit")

    # ---- PNG ------------------------------------------------------------
    g8 = picture(W, H, 1)
    for bits in (1, 2, 4):
        good(f"gray{bits}.png", png(rng.integers(0, 1 << bits, (H, W)), bits, 0))
    good("gray8.png", pil_bytes(Image.fromarray(g8), "PNG"))
    g16 = rng.integers(0, 1024, (H, W))  # PIL's "I" -> RGB clips: most of these become 255
    g16[0, :4] = [0, 1, 255, 256]
    good("gray16.png", png(g16, 16, 0))
    good("gray8_trns.png", png(g8, 8, 0, before_idat=chunk(b"tRNS", struct.pack(">H", 7))))
    good("gray_alpha8.png", pil_bytes(Image.fromarray(np.stack([g8, g8[::-1]], -1), "LA"), "PNG"))
    good("gray_alpha16.png", png(rng.integers(0, 65536, (H, W, 2)), 16, 4))
    good("rgb8.png", pil_bytes(rgb, "PNG"))
    good("rgb16.png", png(rng.integers(0, 65536, (H, W, 3)), 16, 2))
    good("rgb8_trns.png", png(picture(W, H), 8, 2, before_idat=chunk(b"tRNS", struct.pack(">HHH", 1, 2, 3))))
    good("rgba8.png", pil_bytes(Image.fromarray(picture(W, H, 4), "RGBA"), "PNG"))
    good("rgba16.png", png(rng.integers(0, 65536, (H, W, 4)), 16, 6))
    for bits in (1, 2, 4, 8):
        n = 1 << bits
        pal = rng.integers(0, 256, 3 * n)
        good(f"palette{bits}.png", png(rng.integers(0, n, (H, W)), bits, 3, plte=pal))
    pal = rng.integers(0, 256, 3 * 16)
    idx = rng.integers(0, 16, (H, W))
    good("palette4_trns.png", png(idx, 4, 3, plte=pal, before_idat=chunk(b"tRNS", bytes(range(0, 160, 10)))))
    good("palette_pil_trns.png", pil_bytes(rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=20), "PNG",
                                           transparency=3))
    short_pal = png(rng.integers(0, 256, (H, W)), 8, 3, plte=rng.integers(0, 256, 3 * 10))
    good("palette_index_past_end.png", short_pal)  # PIL: gray ramp past the palette
    for ct, name, data in ((0, "gray4", rng.integers(0, 16, (H, W))), (2, "rgb8", picture(W, H)),
                           (6, "rgba16", rng.integers(0, 65536, (H, W, 4))), (3, "palette2", rng.integers(0, 4, (H, W)))):
        bits = 4 if name == "gray4" else 16 if name == "rgba16" else 2 if name == "palette2" else 8
        plte = rng.integers(0, 256, 12) if ct == 3 else None
        good(f"interlaced_{name}.png", png(data, bits, ct, interlace=True, plte=plte))
    good("interlaced_1x1.png", png(np.array([[[1, 2, 3]]]), 8, 2, interlace=True))
    good("orient6.png", pil_bytes(rgb, "PNG", exif=exif_block(6)))
    good("orient3_after_idat.png", png(picture(W, H), 8, 2, after_idat=chunk(b"eXIf", exif_block(3)[6:])))
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", '<x:xmpmeta><rdf:Description tiff:Orientation="8"/></x:xmpmeta>')
    good("orient8_xmp.png", pil_bytes(rgb, "PNG", pnginfo=info))
    raw = exif_block(5)
    hexdump = "\nexif\n" + f"{len(raw):8d}\n" + "\n".join(raw.hex()[i:i + 72] for i in range(0, len(raw) * 2, 72)) + "\n"
    info = PngImagePlugin.PngInfo()
    info.add_text("Raw profile type exif", hexdump, zip=True)
    good("orient5_raw_profile.png", pil_bytes(rgb, "PNG", pnginfo=info))
    rgbpng = png(picture(W, H), 8, 2)
    good("no_iend.png", rgbpng[:-12])  # PIL stops at the end of the data after the image
    good("idat_bad_crc.png", png(picture(W, H), 8, 2, idat_crc=0x12345678))  # PIL does not check IDAT CRCs
    idat = rgbpng.index(b"IDAT")
    bad("truncated.png", rgbpng[: idat + 40], "image file is truncated")
    zbad = bytearray(rgbpng)
    zbad[idat + 4:idat + 8] = b"\xff\xff\xff\xff"  # the zlib header: not a deflate stream
    bad("corrupt_zlib.png", bytes(zbad), "bad PNG")
    ihdr = bytearray(rgbpng)
    ihdr[29] ^= 0xFF  # IHDR's CRC
    bad("ihdr_bad_crc.png", bytes(ihdr), "bad PNG")
    hugep = bytearray(rgbpng)
    hugep[16:24] = struct.pack(">II", 100000, 100000)
    hugep[29:33] = struct.pack(">I", zlib.crc32(bytes(hugep[12:29])) & 0xFFFFFFFF)
    bad("huge_100000x100000.png", bytes(hugep), "more than the limit")
    zero = bytearray(rgbpng)
    zero[16:20] = b"\0\0\0\0"
    zero[29:33] = struct.pack(">I", zlib.crc32(bytes(zero[12:29])) & 0xFFFFFFFF)
    bad("zero_width.png", bytes(zero), "no pixels")

    # ---- neither --------------------------------------------------------
    bad("empty.jpg", b"", "empty file")
    bad("text.jpg", b"this is not a picture\n", "not a JPEG or PNG")
    bad("gif.png", pil_bytes(rgb.convert("P"), "GIF"), "not a JPEG or PNG", pil_refuses=False)

    with open(os.path.join(OUT, "cases.txt"), "w") as f:
        f.write("\n".join(cases) + "\n")
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"{len(cases)} cases, {total} bytes in {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
