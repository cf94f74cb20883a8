"""The training stage: configuration, data loading, sampling, augmentation, resume
state and the Keras loop of one seed (:func:`divconq.train.run.train`).
"""
