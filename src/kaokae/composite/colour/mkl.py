"""mkl: the Monge-Kantorovitch linear colour transfer (Pitie and Kokaram 2007; DeepFaceLab's `mkl`): the linear map
that moves the face's LAB colour distribution inside the mask onto the frame face's, covariances included, so a
colour cast that runs across channels (a warm light on one side) moves as a whole."""

import numpy as np

from kaokae.composite.colour import COLOURS, ColourCorrection


@COLOURS.register("mkl", "match the mean and covariance of the LAB colours (Monge-Kantorovitch linear transfer)",
                  rank=2)
class MongeKantorovitch(ColourCorrection):
    def fit(self, face_lab: np.ndarray, reference_lab: np.ndarray, inside: np.ndarray) -> np.ndarray:
        """(3, 4): the matrix and offset that map a face colour (L, a, b) to the corrected one."""
        selected = inside.astype(bool)
        face = face_lab[selected].astype(np.float64)
        reference = reference_lab[selected].astype(np.float64)
        mean_f, mean_r = face.mean(0), reference.mean(0)
        cov_f = np.cov(face, rowvar=False) + np.eye(3) * 1e-3  # a flat channel must not make the map singular
        cov_r = np.cov(reference, rowvar=False) + np.eye(3) * 1e-3
        values, vectors = np.linalg.eigh(cov_f)
        root = vectors @ np.diag(np.sqrt(np.clip(values, 1e-6, None)))  # cov_f = root @ root.T
        inner_values, inner_vectors = np.linalg.eigh(root.T @ cov_r @ root)
        inner_root = inner_vectors @ np.diag(np.sqrt(np.clip(inner_values, 0, None))) @ inner_vectors.T
        root_inv = np.diag(1 / np.sqrt(np.clip(values, 1e-6, None))) @ vectors.T
        matrix = root_inv.T @ inner_root @ root_inv  # symmetric: matrix @ cov_f @ matrix = cov_r
        return np.concatenate([matrix, (mean_r - matrix @ mean_f)[:, None]], axis=1).astype(np.float32)

    def apply(self, lab: np.ndarray, correction: np.ndarray) -> np.ndarray:
        out = lab.reshape(-1, 3).astype(np.float32) @ correction[:, :3].T + correction[:, 3]
        return np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape(lab.shape)
