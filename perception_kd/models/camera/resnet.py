"""ResNet image backbone whose ``state_dict`` keys are torchvision's.

Written from the published architecture (He et al. 2016, "v1.5": the stride of a
Bottleneck sits on its 3x3 conv), named like ``torchvision.models.resnet`` so an ImageNet
checkpoint saved by torchvision (``resnet18-f37072fd.pth`` ...) loads with a strict key
check: ``conv1``, ``bn1``, ``layer1..4.<block>.{conv,bn}{1,2[,3]}``,
``layer<i>.0.downsample.{0,1}`` and, when ``with_fc``, ``fc``.

Input (N, 3, H, W) normalised images; output a tuple of the stages in ``out_indices``
(0 -> layer1, stride 4; 1 -> layer2, 8; 2 -> layer3, 16; 3 -> layer4, 32).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from ...registry import MODELS
from ...utils.pretrained import resolve_pretrained


class BasicBlock(nn.Module):
    """Two 3x3 convs with an identity (or 1x1 projection) shortcut."""
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand (x4), with a shortcut."""
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


ARCH = {18: (BasicBlock, (2, 2, 2, 2)), 34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)), 101: (Bottleneck, (3, 4, 23, 3))}


@MODELS.register_module()
class ResNet(BaseModule):
    """ResNet-18/34/50/101 with torchvision's parameter names, returning several stages.

    Args:
        depth: 18, 34, 50 or 101.
        out_indices: stages to return (0..3 = layer1..layer4, strides 4, 8, 16, 32).
        base_channels: width of the stem and layer1 (64 in torchvision; smaller values
            make tiny test models, which then cannot load ImageNet weights).
        frozen_stages: -1 trains everything; 0 freezes the stem (conv1, bn1); k >= 1 also
            freezes layer1..layerk (no gradients, BN statistics frozen too).
        norm_eval: keep every BatchNorm in eval mode (running statistics fixed) in training.
        with_fc: keep the ImageNet classifier ``fc`` (only to load/save a full checkpoint;
            it is never used in ``forward``).
        pretrained: path of a torchvision ImageNet ``.pth``; a missing file of
            torchvision's name is taken from the torch hub cache or downloaded there
            (:func:`~perception_kd.utils.pretrained.resolve_pretrained`). Loaded at
            construction with a strict key/shape check (``fc.*`` ignored when ``with_fc``
            is False).
    """

    def __init__(self, depth: int = 50, out_indices: Sequence[int] = (2, 3),
                 base_channels: int = 64, frozen_stages: int = -1, norm_eval: bool = False,
                 with_fc: bool = False, pretrained: str | None = None,
                 init_cfg: dict | None = None):
        super().__init__(init_cfg=init_cfg)
        if depth not in ARCH:
            raise ValueError(f'ResNet depth must be one of {sorted(ARCH)}, got {depth}')
        if not out_indices or not set(out_indices) <= {0, 1, 2, 3}:
            raise ValueError(f'out_indices must be a non-empty subset of 0..3, got {out_indices}')
        if not -1 <= frozen_stages <= 4:
            raise ValueError(f'frozen_stages must be in -1..4, got {frozen_stages}')
        block, layers = ARCH[depth]
        self.depth = depth
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.inplanes = base_channels
        self.conv1 = nn.Conv2d(3, base_channels, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, base_channels, layers[0], 1)
        self.layer2 = self._make_layer(block, base_channels * 2, layers[1], 2)
        self.layer3 = self._make_layer(block, base_channels * 4, layers[2], 2)
        self.layer4 = self._make_layer(block, base_channels * 8, layers[3], 2)
        self.stage_channels = tuple(base_channels * 2 ** i * block.expansion for i in range(4))
        self.out_channels = tuple(self.stage_channels[i] for i in self.out_indices)
        self.fc = nn.Linear(self.stage_channels[3], 1000) if with_fc else None
        self._init_from_scratch()
        if pretrained is not None:
            self.load_pretrained(pretrained)
        self._freeze_stages()

    def _make_layer(self, block: type, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _init_from_scratch(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def load_pretrained(self, path: str) -> None:
        """Load a torchvision-format checkpoint from ``path`` (strict keys and shapes).

        A missing file of torchvision's name (e.g. ``resnet50-0676ba61.pth``) is taken from
        the torch hub cache or downloaded there (hash checked), as torchvision does;
        offline or unknown, :class:`PretrainedWeightsError` says in one line what to put
        where (:func:`perception_kd.utils.pretrained.resolve_pretrained`).
        """
        path = resolve_pretrained(path, what=f'ImageNet ResNet-{self.depth} weights')
        state = torch.load(path, map_location='cpu', weights_only=True)
        if isinstance(state, dict) and 'state_dict' in state:
            state = state['state_dict']
        state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
        if self.fc is None:
            state = {k: v for k, v in state.items() if not k.startswith('fc.')}
        own = self.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
        if missing or unexpected or wrong:
            shapes = [f'{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}'
                      for k in wrong[:5]]
            raise RuntimeError(
                f'{path} does not match ResNet(depth={self.depth}): missing keys {missing[:10]} '
                f'({len(missing)}), unexpected keys {unexpected[:10]} ({len(unexpected)}), shape '
                f'mismatches {shapes} ({len(wrong)}); expected a torchvision resnet{self.depth} '
                'state dict')
        self.load_state_dict(state, strict=True)

    def _frozen_modules(self) -> list:
        modules = [self.conv1, self.bn1] if self.frozen_stages >= 0 else []
        return modules + [getattr(self, f'layer{i}') for i in range(1, self.frozen_stages + 1)]

    def _freeze_stages(self) -> None:
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> ResNet:
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """(N, 3, H, W) -> tuple of (N, C_i, H / s_i, W / s_i) for ``out_indices``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        outs = []
        for idx in range(4):
            x = getattr(self, f'layer{idx + 1}')(x)
            if idx in self.out_indices:
                outs.append(x)
            if idx >= max(self.out_indices):
                break
        return tuple(outs)
