"""One rank of tests/models/test_distiller_ddp.py (run with RANK, WORLD_SIZE, MASTER_ADDR
and MASTER_PORT set): the Distiller wrapped in mmengine's DDP on gloo, one backward of
the distillation losses on this rank's sample; saves the student's gradients.

    python distiller_ddp_worker.py SETUP.pth OUT.pth [--local-norm]

``--local-norm`` makes the losses divide by this rank's own box count instead of the
ranks' mean (what the losses would do without their all-reduce): the test's control.
"""
import copy
import sys

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import DefaultScope

import perception_kd
from perception_kd.models.distill import losses as distill_losses
from perception_kd.registry import MODELS

perception_kd.register_all_modules()


def main(setup_path, out_path, local_norm=False):
    torch.set_num_threads(1)
    setup = torch.load(setup_path, weights_only=False)
    dist.init_process_group('gloo')
    rank = dist.get_rank()
    if local_norm:
        distill_losses.is_distributed = lambda: False
    cfg = Config.fromfile(setup['config'])
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.teacher_ckpt = setup['teacher_ckpt']
    with DefaultScope.overwrite_default_scope('perception_kd'):
        model = MODELS.build(model_cfg)
    model.student.load_state_dict(setup['student'])
    model.eval()  # per-sample BatchNorm: only the box normalisation couples the ranks
    ddp = MMDistributedDataParallel(module=model, device_ids=None,
                                    find_unused_parameters=True)
    data = model.data_preprocessor(pseudo_collate([setup['samples'][rank]]), True)
    losses = ddp(data['inputs'], data['data_samples'], mode='loss')
    distill = {k: v for k, v in losses.items() if k.startswith('loss_distill')}
    sum(distill.values()).backward()
    grads = {n: p.grad.clone() for n, p in model.student.named_parameters()
             if p.grad is not None}
    torch.save(dict(grads=grads, losses={k: v.item() for k, v in distill.items()}),
               out_path)
    dist.destroy_process_group()


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2], '--local-norm' in sys.argv[3:])
