"""The original musicnn networks, run from their checkpoints' own TF1 graphs.

Each checkpoint of the musicnn wheel carries the MetaGraph it was trained with
(``.meta``): the TF1 graph of musicnn-training, with the optimizer, the saver and
the batch-norm updates. :class:`ReferenceGraph` freezes its forward pass (variables
replaced by constants holding the checkpoint's values) and runs it in a
``tf.compat.v1.Session`` with ``is_training=False``: the reference that
:mod:`divconq.models.musicnn`'s Keras rebuild is tested against, independent of the rebuild
(no layer or weight is matched by hand).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

#: Fetched nodes: the layers of :data:`divconq.models.musicnn.CHECKPOINTS`.
OUTPUTS = {
    "musicnn": {
        "pool": "model/concat_2",  # [max, mean] over time: (batch, 753, 2)
        "penultimate": "model/dense/Relu",
        "tags": "model/Sigmoid",
    },
    "vgg": {
        "pool": "model/Flatten/flatten/Reshape",  # pool5 flattened
        "tags": "model/Sigmoid",
    },
}

# Training-only nodes: gradients, saver, Adam and its slots, batch-norm updates, and
# the ops that write variables (they need a variable, not a constant, as input).
_TRAINING_NAME = re.compile(r"(^|/)(gradients|save|Adam(_\d+)?|AssignMovingAvg(_\d+)?)(/|$)")
_TRAINING_OPS = {"Assign", "AssignAdd", "AssignSub", "ApplyAdam", "RefSwitch"}
_VARIABLE_OPS = {"VariableV2", "Variable", "VarHandleOp"}


def _input_name(name: str) -> str:
    """Node name of an input reference (``^ctrl``, ``node:1``)."""
    return name.lstrip("^").split(":")[0]


def frozen_graph_def(prefix: str, outputs):
    """The forward graph of a TF1 checkpoint, its variables made constants.

    Parameters
    ----------
    prefix : str
        Checkpoint prefix (``<dir>/`` for musicnn's: the files are ``<dir>/.meta``...).
    outputs : iterable of str
        Node names the graph must still compute.

    Returns
    -------
    tf.compat.v1.GraphDef
    """
    import tensorflow as tf

    meta = tf.compat.v1.MetaGraphDef()
    meta.ParseFromString(Path(prefix + ".meta").read_bytes())
    nodes = list(meta.graph_def.node)
    dropped = {n.name for n in nodes if _TRAINING_NAME.search(n.name) or n.op in _TRAINING_OPS}
    # Everything that depends on a dropped node goes too (inputs are not in
    # topological order in a GraphDef: repeat until nothing changes).
    changed = True
    while changed:
        changed = False
        for n in nodes:
            if n.name not in dropped and any(_input_name(i) in dropped for i in n.input):
                dropped.add(n.name)
                changed = True
    reader = tf.compat.v1.train.NewCheckpointReader(prefix)
    graph = tf.compat.v1.GraphDef()
    graph.versions.CopyFrom(meta.graph_def.versions)
    for n in nodes:
        if n.name in dropped:
            continue
        if n.op in _VARIABLE_OPS:
            value = reader.get_tensor(n.name)
            const = graph.node.add(name=n.name, op="Const")
            const.attr["dtype"].type = n.attr["dtype"].type
            const.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
            continue
        node = graph.node.add()
        node.CopyFrom(n)
        node.device = ""
        # Shapes recorded by TF 1.12 for the training graph; not needed to import.
        if "_output_shapes" in node.attr:
            del node.attr["_output_shapes"]
        # The dropout's random ops (inactive at inference) are unseeded; TensorFlow
        # refuses to create them once another test enabled op determinism.
        if "seed2" in node.attr and node.attr["seed"].i == 0 and node.attr["seed2"].i == 0:
            node.attr["seed2"].i = 1
    return tf.compat.v1.graph_util.extract_sub_graph(graph, list(outputs))


class ReferenceGraph:
    """A musicnn checkpoint's original graph, frozen, in its own session.

    Parameters
    ----------
    prefix : str
        Checkpoint prefix.
    architecture : str
        ``"musicnn"`` or ``"vgg"`` (which nodes :data:`OUTPUTS` fetches).
    """

    def __init__(self, prefix: str, architecture: str):
        import tensorflow as tf

        self.outputs = OUTPUTS[architecture]
        graph_def = frozen_graph_def(prefix, self.outputs.values())
        placeholders = {n.attr["dtype"].type: n for n in graph_def.node if n.op == "Placeholder"}
        # The graph's two inputs: the patches (float32, (None, 187, 96)) and is_training.
        assert len(placeholders) == 2, sorted(n.name for n in placeholders.values())
        x = placeholders[tf.float32.as_datatype_enum]
        self._x = x.name
        self._training = placeholders[tf.bool.as_datatype_enum].name
        #: Shape of the patches' placeholder, (-1, 187, 96).
        self.input_shape = tuple(d.size for d in x.attr["shape"].shape.dim)
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
        self.session = tf.compat.v1.Session(graph=self.graph)

    def __call__(self, patches: np.ndarray) -> dict:
        """Layers of a batch of patches.

        Parameters
        ----------
        patches : np.ndarray, float32, shape (n, 187, 96)

        Returns
        -------
        dict of str to np.ndarray, float32, shape (n, width)
            ``pool`` flattened as the graph's own back end does.
        """
        fetches = {layer: f"{node}:0" for layer, node in self.outputs.items()}
        feed = {f"{self._x}:0": np.asarray(patches, np.float32), f"{self._training}:0": False}
        out = self.session.run(fetches, feed)
        return {layer: v.reshape(len(v), -1) for layer, v in out.items()}

    def close(self):
        self.session.close()
