"""The training hyper-parameters (the config's ``training`` section) as a dataclass.

No TensorFlow here: the workflow and the tests build and check a
:class:`TrainConfig` without starting it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

#: ``sampling`` values: the fixed snippets, or a fresh draw of windows every epoch.
SAMPLING = ("snippets", "epoch")
#: ``balance`` values: plain loss, or sample weights evening out classes or tracks.
BALANCE = ("none", "class", "track")
#: ``monitor`` values: the validation metric that picks the best epoch and drives early
#: stopping and the learning-rate schedule (lower loss, higher accuracy is better).
MONITORS = ("val_loss", "val_accuracy")


@dataclass
class TrainConfig:
    """Training hyper-parameters (the ``training`` section of the config).

    The article's values: Adam with learning rate 1e-4, batch 32, categorical
    cross-entropy, early stopping and learning-rate reduction on the validation
    loss, the best model by validation loss kept. Everything from ``sampling``
    on is off or the article's setting by default (see
    ``workflow/schemas/config.schema.yaml`` for each key's description).

    Attributes
    ----------
    epochs : int
        Most epochs.
    patience : int
        Early stopping: epochs without a lower validation loss before stopping.
    lr_patience : int
        ReduceLROnPlateau: epochs without improvement before the rate is cut.
    lr_factor : float
        ReduceLROnPlateau factor.
    min_lr : float
        Floor of the learning rate.
    learning_rate : float
        Adam's initial learning rate.
    batch_size : int
    mixed_precision : bool
        ``mixed_float16`` compute (GPUs with tensor cores); the softmax stays float32.
    threads : int or None
        TensorFlow intra-op threads (None: TensorFlow's choice).
    deterministic : bool
        TensorFlow op determinism (same history for the same seed on the same machine).
    verbose : int
        Keras progress output (0 silent, 2 one line per epoch).
    sampling : str
        ``snippets``: the fixed ``is_snippet`` windows of each training track, every
        epoch (the article's). ``epoch``: every epoch a fresh draw, seeded by (seed,
        epoch), of up to ``windows_per_track`` windows of each training track from
        all of its windows (``input: snippets`` only).
    windows_per_track : int
        ``sampling: epoch``: most windows of one track in one epoch (a track with
        fewer windows gives all of them).
    monitor : str
        ``val_loss`` (the article's) or ``val_accuracy``: the validation metric that
        picks the kept (best) epoch and that early stopping and ReduceLROnPlateau
        watch. Without validation samples, its training counterpart.
    balance : str
        ``none``; ``class``: sample weights so every class weighs the same in an
        epoch's loss; ``track``: so every track does. Weights average 1 over an epoch.
    time_masks, time_mask_frames : int
        SpecAugment time masking: this many masks per sample, each 0 to
        ``time_mask_frames`` frames wide (0 masks: off).
    freq_masks, freq_mask_bands : int
        The same over mel bands.
    mixup_alpha : float
        Mixup: each sample is mixed with another of its batch with a weight drawn
        from Beta(alpha, alpha) (0: off).
    gain_db : float
        Random gain: a constant drawn uniformly from +-gain_db dB added to a
        sample's log-mel before normalization (0: off).
    in_memory_mb : int
        Train and val samples up to this size (float32, together) are held in memory;
        larger ones are written once to a file per split and read batch by batch
        (:class:`divconq.train.data.DiskSamples`): the same batches and history,
        memory that does not grow with the collection.
    """

    epochs: int = 30
    patience: int = 5
    lr_patience: int = 2
    lr_factor: float = 0.5
    min_lr: float = 1e-6
    learning_rate: float = 1e-4
    batch_size: int = 32
    mixed_precision: bool = False
    threads: int | None = None
    deterministic: bool = True
    verbose: int = 0
    sampling: str = "snippets"
    windows_per_track: int = 20
    monitor: str = "val_loss"
    balance: str = "none"
    time_masks: int = 0
    time_mask_frames: int = 20
    freq_masks: int = 0
    freq_mask_bands: int = 10
    mixup_alpha: float = 0.0
    gain_db: float = 0.0
    in_memory_mb: int = 2000

    def __post_init__(self):
        if self.sampling not in SAMPLING:
            raise ValueError(f"training.sampling must be one of {SAMPLING}, not {self.sampling!r}")
        if self.monitor not in MONITORS:
            raise ValueError(f"training.monitor must be one of {MONITORS}, not {self.monitor!r}")
        if self.balance not in BALANCE:
            raise ValueError(f"training.balance must be one of {BALANCE}, not {self.balance!r}")
        for key in ("windows_per_track", "batch_size", "epochs"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"training.{key} must be at least 1")
        for key in ("time_masks", "time_mask_frames", "freq_masks", "freq_mask_bands"):
            if int(getattr(self, key)) < 0:
                raise ValueError(f"training.{key} must not be negative")
        for key in ("mixup_alpha", "gain_db", "in_memory_mb"):
            if float(getattr(self, key)) < 0:
                raise ValueError(f"training.{key} must not be negative")

    @classmethod
    def from_dict(cls, d: dict | None) -> TrainConfig:
        """Build from a dict (the config's ``training`` section).

        Raises
        ------
        divconq.shared.config.ConfigError
            A ValueError for a key that is not a field, naming the closest field.
        """
        from divconq.shared.config import reject_unknown

        reject_unknown(d or {}, [f.name for f in fields(cls)], "training")
        return cls(**dict(d or {}))

    def shaping(self) -> dict:
        """The fields that change the trained model (not threads, verbosity or where
        the samples are held)."""
        d = asdict(self)
        for k in ("threads", "verbose", "in_memory_mb"):
            d.pop(k)
        return d

    def augments(self) -> bool:
        """Whether any batch augmentation is on."""
        return bool(
            (self.time_masks and self.time_mask_frames)
            or (self.freq_masks and self.freq_mask_bands)
            or self.mixup_alpha > 0
            or self.gain_db > 0
        )


def experiment_training(
    section: dict, preset: str, overrides: dict | None = None, trainable: str = "head"
) -> dict:
    """The training settings of one experiment, before :meth:`TrainConfig.from_dict`.

    Three layers, later ones win: the config's ``training`` section (every
    experiment's), the model preset's own settings (:attr:`divconq.models.presets.Preset.training`,
    e.g. ``band_stats``' batch size), the experiment's ``training:``. A fine-tuning
    experiment (``trainable: all``) has :data:`divconq.models.presets.FINETUNE_TRAINING`
    instead of its head preset's settings.

    Parameters
    ----------
    section : dict
        The config's ``training`` section.
    preset : str
        The experiment's ``model``.
    overrides : dict, optional
        The experiment's ``training:``.
    trainable : str
        The experiment's ``trainable``: ``head`` or ``all``.

    Returns
    -------
    dict
        A new dict; the inputs are not changed.
    """
    from divconq.models.presets import FINETUNE_TRAINING, get_preset

    own = FINETUNE_TRAINING if trainable == "all" else get_preset(preset).training
    return {**section, **dict(own), **(overrides or {})}
