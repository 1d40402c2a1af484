from __future__ import annotations

import pytest

from fastmed.synth import EDGE_CASES, ArchiveInfo, generate_archive

# Seed 2 gives lesions in CT, MR and X-ray studies and one study without any (checked below),
# so every assertion about lesions and "No focal lesion." has something to bite on.
SEED = 2


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory) -> ArchiveInfo:
    return generate_archive(tmp_path_factory.mktemp("synth") / "plain", 6, SEED, save_pixels=True)


@pytest.fixture(scope="session")
def edge_archive(tmp_path_factory: pytest.TempPathFactory) -> ArchiveInfo:
    return generate_archive(
        tmp_path_factory.mktemp("synth") / "edges", 6, SEED, edge_cases=EDGE_CASES, save_pixels=True
    )


@pytest.fixture(scope="session")
def lesion_seed_check(archive: ArchiveInfo) -> None:
    kinds = {st.kind for st in archive.studies if st.lesion_count}
    assert {"CT", "MR"} <= kinds and kinds & {"CR", "DX"}, kinds
    assert any(st.lesion_count == 0 for st in archive.studies)
