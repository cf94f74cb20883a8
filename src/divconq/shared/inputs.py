"""What a model reads: the input kinds every stage agrees on.

========================  ===========================================================
``snippets``              3-s log-mel windows of the per-track spectrogram HDF5
                          (``mel_db``); a track is classified from all its windows
``clip``                  the whole 30-s clip's log-mel (``clip_mel_db``): one input,
                          one score per track (the article's baseline)
``embeddings``            a pretrained network's vector of each 3-s patch (the
                          embedding HDF5, :mod:`divconq.data.embeddings`); a track is
                          classified from all its patches, as snippets
``embedding_mean``        the mean of those vectors over all patches of the track:
                          one input, one score per track (the embeddings' counterpart
                          of the 30-s baseline)
``musicnn_mel``           the pretrained network's own log-mel of each 3-s patch
                          (187 x 96, the musicnn front end's file,
                          :mod:`divconq.data.embeddings`): the input of a model that holds
                          the whole network and fine-tunes it (``trainable: all``);
                          a track is classified from all its patches
========================  ===========================================================

In the configuration an experiment names ``input: embeddings`` and ``trainable:
all``; its models then read ``musicnn_mel`` (their ``preprocessing.json`` says so).
"""

#: Every input kind a model can take.
INPUTS = ("snippets", "clip", "embeddings", "embedding_mean", "musicnn_mel")
#: Kinds read from the embedding HDF5s (the manifest's feature column names them).
EMBEDDING_INPUTS = ("embeddings", "embedding_mean")
#: Kinds of the pretrained networks: their parameters are
#: :class:`divconq.data.embeddings.EmbeddingParams`, their weights an installed package.
PRETRAINED_INPUTS = (*EMBEDDING_INPUTS, "musicnn_mel")
#: Kinds with one input (and one score) per track: no snippet or window level.
WHOLE_TRACK_INPUTS = ("clip", "embedding_mean")
