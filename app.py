"""geoviz front door. Until the dashboard lands (issue 5) this prints a short demo of the losses on a
synthetic insertion: a disc object inserted at the right size, shrunk, and grown."""

from __future__ import annotations

import argparse

import torch

import losses


def disc(size: int, radius: float) -> torch.Tensor:
    c = (size - 1) / 2
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    return (((yy - c) ** 2 + (xx - c) ** 2) <= radius**2).float().view(1, 1, size, size)


def demo() -> None:
    torch.manual_seed(0)
    size, radius = 64, 14.0
    target_mask = disc(size, radius)
    z_ctx = torch.randn(1, 16, size, size)
    object_latent = 3.0 * torch.randn(1, 16, 1, 1)
    z_tgt = z_ctx + target_mask * object_latent
    phi = losses.signed_distance_map_from_mask(target_mask > 0.5, normalize=True)
    print(f"{'object scale':>12s} {'mse':>8s} {'dice':>8s} {'area':>8s} {'boundary':>9s}")
    for s in (0.8, 1.0, 1.2):
        z_pred = z_ctx + disc(size, radius * s) * object_latent
        m_hat, _, _ = losses.soft_change_mask_from_latents(z_pred, z_ctx, target_mask, temperature=0.25, s_min=0.05)
        print(
            f"{s:12.2f} {float(losses.weighted_masked_mse_latent(z_pred, z_tgt, target_mask)):8.4f}"
            f" {float(losses.dice_loss(m_hat, target_mask)):8.4f} {float(losses.area_ratio_loss(m_hat, target_mask)):8.4f}"
            f" {float(losses.boundary_loss(m_hat, phi)):9.4f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description="geoviz")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=7860)
    ap.parse_args()
    demo()


if __name__ == "__main__":
    main()
