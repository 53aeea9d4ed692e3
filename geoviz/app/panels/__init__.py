"""The dashboard's panels outside the tabs: the results head, the weights and the inputs."""

__all__: list[str] = []
