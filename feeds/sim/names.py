"""Names and phone numbers for the simulated workers: the directory a real city imports from
its roster (feeds.directory), made up here, the same for a worker id in every run."""

from __future__ import annotations

import random

from feeds.directory import WorkerCard
from feeds.sim.workers import Worker

# The commonest surnames first (so they come up most), then given-name characters.
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑高梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏"
    "魏吕丁沈姚卢"
)
_GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红玲飞鹏辉斌波宁海燕亮林雪琴云凤"
    "晨浩宇欣怡子涵思远佳俊"
)
_MOBILE_HEADS = ("133", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158",
                 "159", "177", "180", "182", "187", "188", "189", "199")  # fmt: skip


def card_of(worker: Worker) -> WorkerCard:
    rng = random.Random(f"directory:{worker.id}")
    surname = _SURNAMES[min(int(rng.expovariate(1 / 12)), len(_SURNAMES) - 1)]
    given = "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2))))
    phone = rng.choice(_MOBILE_HEADS) + f"{rng.randrange(10**8):08d}"
    return WorkerCard(id=worker.id, name=surname + given, phone=phone, grid=worker.grid)
