"""PicoDet v1 training losses (SimOTA assignment, VFL, GIoU, DFL). Imports Paddle: training code only."""

from __future__ import annotations

from picodet_cli.losses.picodet_loss import anchor_centers, assign_targets, compute_losses
from picodet_cli.losses.simota import AssignResult, simota_assign

__all__ = ["AssignResult", "anchor_centers", "assign_targets", "compute_losses", "simota_assign"]
