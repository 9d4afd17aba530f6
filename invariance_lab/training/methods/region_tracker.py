"""Region Tracker: Frame Temporal Invariance plus a region term whose positives are tracked regions.

Purushwalkam & Gupta, NeurIPS 2020 (https://arxiv.org/abs/2007.13916), §5 and Fig. 2: "full
frames and tracked region proposals separated in time as the query and key", in the MoCo v2
framework; the Region Tracker adds unsupervised region tracking to the frame-level model.

Our reading (appendix B was not available; every choice is an option, README "our reading"):
- regions: selective-search proposals in frame t, tracked to t + Δ by KCF, computed once per
  video and stored (`video/tracks.py`, `video/store.py`; `invariance-lab data tracks`);
- R = `regions` (4) tracked pairs per frame pair; region features by cropping (`region_pool
  crop`: the region is cut out and encoded like an image, as the caption's "region proposals ...
  as the query and key" reads) or by RoIAlign on the trunk's last feature map (`roi`);
- a region projection head of the same shape as the frame head, its own momentum copy, its own
  queue (`region_queue_size`, default the frame queue's K) and the same temperature;
- loss = InfoNCE(frames) + `region_weight` × InfoNCE(regions) (weight 1), where each query
  region's positive is its own tracked key region (`losses.masked_info_nce`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import roi_align

from ..distributed import concat_all_gather
from ..errors import TrainingError
from ..heads import linear_head, mlp_head
from ..losses import info_nce, masked_info_nce
from ..queue import Queue
from ..video.data import video_training_data
from ..video.readers import read_videos
from ..video.store import TrackStore
from ..video.views import RegionViews
from .base import register_method
from .moco import MOCO_V2, MoCo

RESNET_TRUNK = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")


def trunk_map(backbone: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The last feature map (B, C, h, w) of a torchvision ResNet (what its avgpool pools)."""
    for name in RESNET_TRUNK:
        x = getattr(backbone, name)(x)
    return x


def roi_features(
    fmap: torch.Tensor, boxes: torch.Tensor, image_side: int, output: int
) -> torch.Tensor:
    """RoIAlign (He et al., Mask R-CNN, 2017; `torchvision.ops.roi_align`, aligned) of boxes (B, R, 4 as x1, y1, x2, y2 in input pixels), averaged → (B·R, C)."""
    b, r = boxes.shape[:2]
    idx = torch.arange(b, device=boxes.device, dtype=torch.float32).repeat_interleave(r)[:, None]
    rois = torch.cat([idx, boxes.reshape(-1, 4).float()], dim=1)  # (B·R, 5): batch index, box
    pooled = roi_align(
        fmap.float(),
        rois,
        output,
        spatial_scale=fmap.shape[-1] / image_side,
        sampling_ratio=2,
        aligned=True,
    )
    return pooled.mean(dim=(2, 3))  # (B·R, C)


class RegionNet(nn.Module):
    """Trunk + frame head + region head; one forward for frames and regions (one DDP call per step).

    `forward(images)` is the frame embedding (MoCo's encoder); `forward(images, regions)` returns
    (frame (B, dim), regions (B·R, dim)), regions being crops (B, R, 3, s, s) or boxes (B, R, 4).
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: nn.Module,
        region_head: nn.Module,
        pool: str,
        roi_output: int,
    ):
        super().__init__()
        self.backbone, self.head, self.region_head = backbone, head, region_head
        self.pool, self.roi_output = pool, roi_output

    def forward(self, images: torch.Tensor, regions: torch.Tensor | None = None):
        if regions is None:
            return self.head(self.backbone(images))
        if self.pool == "crop":
            return self.head(self.backbone(images)), self.region_head(
                self.backbone(regions.flatten(0, 1))
            )
        fmap = trunk_map(self.backbone, images)
        z = self.head(torch.flatten(self.backbone.avgpool(fmap), 1))
        return z, self.region_head(roi_features(fmap, regions, images.shape[-1], self.roi_output))

    @torch.no_grad()
    def region_keys(self, regions: torch.Tensor) -> torch.Tensor:
        """Normalised embeddings of region crops (N, 3, s, s) (key side, `crop` pooling)."""
        return F.normalize(self.region_head(self.backbone(regions)), dim=1)


@register_method("region-tracker")
class RegionTracker(MoCo):
    """MoCo v2 on frame pairs plus tracked region pairs (options `regions`, `region_pool`, `region_weight`, ...)."""

    DEFAULTS = MOCO_V2
    STATS = ("acc1", "loss_frame", "loss_region", "region_acc1", "regions")

    def __init__(self, cfg, n_data, generator):
        super().__init__(cfg, n_data, generator)
        if cfg.region_pool not in ("crop", "roi"):
            raise TrainingError(f"--region-pool {cfg.region_pool!r}: choose crop or roi")
        backbone, head = self.online.backbone, self.online.head
        if cfg.region_pool == "roi" and not all(
            hasattr(backbone, n) for n in (*RESNET_TRUNK, "avgpool")
        ):
            raise TrainingError(
                f"--region-pool roi needs a torchvision ResNet (--arch tv:resnet*), not {cfg.arch}; use --region-pool crop"
            )
        width = head[0].in_features if isinstance(head, nn.Sequential) else head.in_features
        region_head = mlp_head(width, cfg.dim) if cfg.mlp else linear_head(width, cfg.dim)
        self.online = RegionNet(backbone, head, region_head, cfg.region_pool, cfg.roi_output)
        self.region_queue = Queue(cfg.region_queue_size or cfg.queue_size, cfg.dim)
        self._region_keys: tuple[torch.Tensor, torch.Tensor] | None = None

    @classmethod
    def training_data(cls, cfg):
        """Frame pairs starting at the stored anchors, with their stored region tracks."""
        videos = read_videos(cfg.data, cfg.video_layout)
        store = TrackStore(
            videos, cfg.tracks_dir, horizon=int(cfg.frame_gap[1]) if cfg.pairs == "temporal" else 0
        )
        return video_training_data(cfg, videos, store)

    def transform(self):
        """aug+ frame views and R region views (crops or boxes) per pair."""
        c = self.cfg
        size = c.region_size or max(8, c.image_size // 2)
        return RegionViews(
            c.image_size, c.regions, c.region_pool, size, tuple(c.crop_scale), c.blur
        )

    def training_step(self, views, index, net):
        """InfoNCE(frames) + region_weight × masked InfoNCE(regions, own tracked key vs region queue)."""
        im_q, im_k, reg_q, reg_k, valid = views
        c, enc = self.cfg, None
        q, qr = net(im_q, reg_q)
        q, qr = (
            F.normalize(q.float(), dim=1),
            F.normalize(qr.float(), dim=1),
        )  # (B, dim), (B·R, dim)
        with torch.no_grad():
            self.momentum_update()
            enc = self.encoder_k
            if c.region_pool == "crop":
                k = self.keys(im_k).float()
                kr = self.shuffled(enc.region_keys, reg_k.flatten(0, 1)).float()  # (B·R, dim)
            else:
                fmap = self.shuffled(lambda x: trunk_map(enc.backbone, x), im_k)
                k = F.normalize(
                    enc.head(torch.flatten(enc.backbone.avgpool(fmap), 1)), dim=1
                ).float()
                kr = F.normalize(
                    enc.region_head(roi_features(fmap, reg_k, im_k.shape[-1], c.roi_output)), dim=1
                ).float()
        mask = valid.flatten()  # (B·R,)
        l_frame, logits = info_nce(q, k, self.queue.keys, c.temperature)  # B×(1+K)
        l_region, rlogits = masked_info_nce(
            qr, kr, self.region_queue.keys, c.temperature, mask
        )  # (B·R)×(1+K_r)
        loss = l_frame + c.region_weight * l_region
        self._keys = concat_all_gather(k)
        self._region_keys = (concat_all_gather(kr), concat_all_gather(mask.to(torch.uint8)))
        n = mask.sum().clamp(min=1)
        return loss, {
            "acc1": (logits.argmax(1) == 0).float().mean(),
            "loss_frame": l_frame.detach(),
            "loss_region": l_region.detach(),
            "region_acc1": ((rlogits.argmax(1) == 0) & mask).sum() / n,
            "regions": mask.float().sum() / valid.shape[0],
        }

    def after_step(self) -> None:
        """Enqueue the frame keys and the real (unpadded) region keys of every process."""
        super().after_step()
        if self._region_keys is not None:
            kr, m = self._region_keys
            self.region_queue.enqueue(kr[m.bool()])
            self._region_keys = None
