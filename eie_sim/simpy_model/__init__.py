"""The SimPy discrete-event model of EIE: one module per hardware unit.

``ccu`` (central control unit and LNZD tree) broadcasts into each PE's
``act_queue``; a ``pe`` composes ``ptr_read``, ``spmat_read``, ``arith`` and
``act_rw``; ``array`` composes the CCU, the PEs and the ``dram`` streamer;
``engine`` runs a model on it.
"""
