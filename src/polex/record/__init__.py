"""What every record kind shares: storage, ownership, versions, lists and their filters.

Each kind (person/, document/, vehicle/, case/) contributes a ``RecordFeature``: its
projection onto the columns lists filter on, its filters and any rule of its own.
"""
