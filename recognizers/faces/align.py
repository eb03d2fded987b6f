"""Face alignment: five YuNet landmarks -> the embedding model's canonical 150×150 RGB chip.

dlib's embedding network was trained on chips cut by dlib's `get_face_chip` (150 px, padding
0.25) from its own landmark model. YuNet's landmarks are different points (eye centres, nose tip,
mouth corners), so `TEMPLATE` gives where YuNet's points land in dlib's chip on average. We measured
it ourselves (`derive_template.py`): for 213 real faces (deepface test photos, dlib's example photos,
ORL) we cut dlib's chip, mapped YuNet's landmarks from the photo into it, took a trimmed mean, and
made it left/right symmetric about the chip's centre column (74.5).
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

CHIP_SIZE = 150

#: (x, y) in the 150×150 chip of: eye on the image's left, other eye, nose tip, mouth corners
TEMPLATE = np.array(
    [[46.7, 45.8], [102.3, 45.8], [74.5, 78.1], [50.6, 102.4], [98.4, 102.4]],
    np.float32,
)

FloatArray = npt.NDArray[np.float32]


def similarity_transform(src: FloatArray, dst: FloatArray) -> FloatArray:
    """The 2×3 rotation+uniform scale+translation that maps `src` points onto `dst` (least squares).

    Closed-form Umeyama (1991) estimate without reflection.
    """
    a = np.asarray(src, np.float64).reshape(-1, 2)
    b = np.asarray(dst, np.float64).reshape(-1, 2)
    mu_s, mu_d = a.mean(0), b.mean(0)
    s, d = a - mu_s, b - mu_d
    cov = d.T @ s / len(a)
    u, sigma, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1.0
    rot = u @ sign @ vt
    var_s = (s**2).sum() / len(a)
    scale = float(np.trace(np.diag(sigma) @ sign) / var_s) if var_s > 0 else 1.0
    matrix = np.zeros((2, 3), np.float64)
    matrix[:, :2] = scale * rot
    matrix[:, 2] = mu_d - scale * rot @ mu_s
    return matrix.astype(np.float32)


def chip_transform(landmarks: FloatArray, size: int = CHIP_SIZE) -> FloatArray:
    """Image -> chip transform (2×3) for one face's five landmarks."""
    return similarity_transform(landmarks, TEMPLATE * (size / CHIP_SIZE))


def align(
    image: npt.NDArray[np.uint8], landmarks: FloatArray, size: int = CHIP_SIZE
) -> npt.NDArray[np.uint8]:
    """Cut the aligned chip (size × size, same channel order as `image`) for one face.

    A face much larger than the chip is first shrunk with area averaging, so the bilinear warp
    does not alias (dlib's own chip extraction low-passes the same way).
    """
    matrix = chip_transform(landmarks, size).astype(np.float64)
    scale = float(np.hypot(matrix[0, 0], matrix[0, 1]))
    if scale < 0.5:
        # Shrink a crop around the chip's footprint to about twice the chip's resolution first.
        inverse = cv2.invertAffineTransform(matrix)
        corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64)
        footprint = corners @ inverse.T
        h, w = image.shape[:2]
        x0, y0 = np.floor(footprint.min(0)).astype(int)
        x1, y1 = np.ceil(footprint.max(0)).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            factor = 2.0 * scale
            crop = image[y0:y1, x0:x1]
            out_w, out_h = max(1, round(crop.shape[1] * factor)), max(1, round(crop.shape[0] * factor))
            small = np.asarray(cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_AREA), np.uint8)
            fx, fy = out_w / crop.shape[1], out_h / crop.shape[0]
            # chip <- image becomes chip <- small: image = (small / f) + offset (pixel centres)
            to_image = np.array(
                [[1 / fx, 0, x0 + 0.5 / fx - 0.5], [0, 1 / fy, y0 + 0.5 / fy - 0.5], [0, 0, 1]], np.float64
            )
            matrix = matrix @ to_image
            image = small
    chip = cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return np.asarray(chip, np.uint8)
