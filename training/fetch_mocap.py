"""Fetch more real mocap: CMU subjects 05, 06 and 07, as exported from iClone, pinned by commit and SHA-256.

    python -m training.fetch_mocap --out data/mocap/cmu-iclone                      # from GitHub
    python -m training.fetch_mocap --out data/mocap/cmu-iclone --from-git CLONE    # from a local clone

The files are the CMU Graphics Lab Motion Capture Database's (mocap.cs.cmu.edu: free for all uses, may not be
resold as data; "The data used in this project was obtained from mocap.cs.cmu.edu. The database was created
with funding from NSF EIA-0196217."), converted from the original AMC files to BVH and retargeted in iClone
onto one Character Creator body by the GitHub project DragonForgedTheArtist/IClone-CMU-Mocap, which states
no licence of its own. Subject 05 dances (ballet and modern: arabesques, pirouettes, jetes), 06 dribbles a
basketball, 07 walks: 46 files, 60 fps, centimetres; the project's 006_13 is left out (not in the snapshot
this list was made from). Subjects 02 and 131 are reserved for independent evaluation and are not in it.

Files already there with the right hash are kept, so a stopped fetch resumes; a file whose hash differs is an
error and is not kept. ``python -m training.prepare_data --cmu-iclone FOLDER`` reads them
(``training.datasets.read_cmu_iclone``).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import urllib.request

REPOSITORY = "DragonForgedTheArtist/IClone-CMU-Mocap"
COMMIT = "79529f962ade3274163af53cd92179cee2ed9407"
URL = f"https://raw.githubusercontent.com/{REPOSITORY}/{COMMIT}/All_BVH/subjects/{{subject}}/{{name}}"

SHA256 = {
    "005_01.bvh": "5fa6506dcbb3565bf02b1a6c421bec14f68fbd008489d4002e84f58f1fa9c005",
    "005_02.bvh": "496dc2ad1ecbf70d8a2d81e4c694134d2f7d2f2210d487ea30e471f8f7d0d45f",
    "005_03.bvh": "8254c89804ab9610bf3a2acd06a256b92aebcad56e915568ece1cb4cf4486c73",
    "005_04.bvh": "31764136989413413209bdbcb3614b07a7d7e97b3d81660542aa042b0876072d",
    "005_05.bvh": "653fe906feed1f8a592a51017670ce114a0102b334697da37499e48ccdeb2cc2",
    "005_06.bvh": "b918034602bb14633e2a2481f3be3d4e25197dd9a3742df09c6fe0f5ce491024",
    "005_07.bvh": "406ce7f1c24e024ceff06e939a2db5526d19ba705b86cf9caeff5a6ae848c68c",
    "005_08.bvh": "c3adc0358b7e86416ffd41f992c3aedf3c0d8937a1ace0f8af2bea7ccbffc852",
    "005_09.bvh": "4f48c691d5af338525822960c204a039d3e29f0ebcaa8d23fbab6fb14786c37b",
    "005_10.bvh": "009ddc9b667f900932adc3bfe944bfec018d06384d4110879506e4f187f1ca36",
    "005_11.bvh": "86f82e033f30945374d50af3be333dbb0586ca8448d89a0c545e50c37fbc9b27",
    "005_12.bvh": "b2b1d75897a62611a94cea3acf201de8cf1bbfec91362e7427237e18d231d7a5",
    "005_13.bvh": "4ce208153e92737e9dbec5980e6ef8f45992509777239686c1ec5dd9fa8dcc34",
    "005_14.bvh": "ad61ff6028fd0cdadfa9b81d7bf7cba01bbe17bb7d5c7569a6bb3fa50e63addc",
    "005_15.bvh": "f61a5ed50c25777757ab1934da7f3486d705e7db4d90db89ed4b07ae55c4944f",
    "005_16.bvh": "806c2a6c2c1a11d35aad78c79249a258229dbfb1498493c093261eebe1147e2b",
    "005_17.bvh": "3a6b39c972d88a2551eac2212ea29a1c8a0b6009b844434eb56750defe406605",
    "005_18.bvh": "2760ab1f84a3487c0406edc0484a8fa33d3f868b5be070bc47b41b4c67db251d",
    "005_19.bvh": "3cee7489dc203e9e8edfbba99c55365067e84f62a3f5d0da3cd43f3864658b82",
    "005_20.bvh": "aa3cb2fa4bf0ac51c3f34c2a78da9462e84cbeb0de2a1a952064c1ad21b44e00",
    "006_01.bvh": "edc253f527532b53e538fd17ec0da6feff1e02ccfd23be4cdfa671b7f91d6c33",
    "006_02.bvh": "353e69856fcef9d4479c3812730371873c14ffa68dc5f31d4c3ce236b601e512",
    "006_03.bvh": "89be6f687d84c1fef92a763b497f5a0f39c8c87fd9afe54dad2828dd006c6115",
    "006_04.bvh": "d3a3896368693ee1aabf54a482f36295b4a7eb3e109eebfb98b62c0447b55ab0",
    "006_05.bvh": "d096c86a0db2748d5cf95892b368f7e40a24405407d464648d07e0a0165f6398",
    "006_06.bvh": "f0fd5a50e4ee4076ffe14fe48d798bd1590e38a3308008857d89c18794bc431e",
    "006_07.bvh": "1d2c8748d22486b1478fcd9b6f27adbf68513dfeb4b0a31abac2241c1f56d0be",
    "006_08.bvh": "a0bf10190e94dcdbbafb1d8e4142cd6e2d13cce9ecdf5c346f25e325052ecf26",
    "006_09.bvh": "11795ce441f37d350b83a4c26337b8d26a61ad67a0a0632c6d5464acfeb56835",
    "006_10.bvh": "fc0e791b44d0ae36de258a01b72f38ed97483c0eacd3fe6ebe277184b32065ca",
    "006_11.bvh": "8814719066539ee516dd0e9e2026cc3dcb7a0abee1293ae38593c0e3282a49a3",
    "006_12.bvh": "3add656c711e86f588f9207cb2dbc196560477a527902de02b5cc714e7a0408e",
    "006_14.bvh": "be39c1a2b16696f4886e3a95b19630c687e228a9c2e85b96dce00c93d7dc15eb",
    "006_15.bvh": "442c6600ea846d5bc86e2698635fb91f17930f99aebe9c25a0c1e9466ec5925a",
    "007_01.bvh": "82747519b416ea16aafaec551292e11c4c6b33bcf6d26692e975a2de7755a37a",
    "007_02.bvh": "33a05a0121da63e1685aa82ef87edc794e235707eecafa258786873e5d902316",
    "007_03.bvh": "7ddac59ad8e7cb31a5828fb096c2022b539a4d3c78caf215977238a634f20b80",
    "007_04.bvh": "24b7e3cd6fb5d1e43cf78885563f2455cfba90481b728cac6d2aa3bff3f9d982",
    "007_05.bvh": "f19def9bdd99925c44e697063305fa611fe3c939e57436a5c095450a8b604535",
    "007_06.bvh": "52b9484d1f990fa361bb8d6644b16c6ca28df2ac46f8f5a9486d0e1578102abf",
    "007_07.bvh": "78dc107ce87aae19fa9d8e504f4a2eb44ac55111939bf3c70e46804d9f6a3188",
    "007_08.bvh": "b61737230af9210c958df2d5366bafbe28af2828fc6cd8a0f3f0059b48f55edf",
    "007_09.bvh": "faa3c54c0f679ad785bd7a76d65c300fe5d4bb0ea524a31658d7a319cf674318",
    "007_10.bvh": "4aee157a2e01ed90f6cc534817b03daf0b736e44c51701c9d7699b9a3b15b4fd",
    "007_11.bvh": "cdb22987e755a42adba5eab69ba07f4a9cd461172308ebbc483afc8fe3c2a4a7",
    "007_12.bvh": "a56ebf53165e596a6754decabd974f8361ec47591fefb97e110d3098b8705901",
}


class FetchError(RuntimeError):
    """A file could not be fetched, or its content is not the pinned one."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _from_github(name: str) -> bytes:
    url = URL.format(subject=name[:3], name=name)
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.read()
    except OSError as error:
        raise FetchError(f"cannot download {url}: {error}") from error


def _from_git(clone: str, name: str) -> bytes:
    where = ["-C", clone] if os.path.exists(os.path.join(clone, ".git")) else ["--git-dir", clone]   # bare: a mirror
    result = subprocess.run(["git", *where, "show", f"{COMMIT}:All_BVH/subjects/{name[:3]}/{name}"], capture_output=True)
    if result.returncode:
        raise FetchError(f"{name} is not in {clone} at {COMMIT[:10]}: {result.stderr.decode().strip()}")
    return result.stdout


def fetch(out: str, from_git: str | None = None) -> list[str]:
    """Every file of SHA256 into ``out``, checked; the paths written or found in place."""
    if from_git is not None and not os.path.isdir(from_git):
        raise FetchError(f"{from_git} is not a folder")
    os.makedirs(out, exist_ok=True)
    paths = []
    for name, expected in SHA256.items():
        path = os.path.join(out, name)
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                if _sha256(handle.read()) == expected:
                    paths.append(path)
                    continue
        data = _from_git(from_git, name) if from_git else _from_github(name)
        if _sha256(data) != expected:
            raise FetchError(f"{name}: SHA-256 {_sha256(data)[:16]}... is not the pinned {expected[:16]}... "
                             "(not kept)")
        with open(path + ".partial", "wb") as handle:
            handle.write(data)
        os.replace(path + ".partial", path)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data/mocap/cmu-iclone")
    parser.add_argument("--from-git", default=None, help=f"a local clone of {REPOSITORY} (or its git directory)")
    args = parser.parse_args(argv)
    try:
        paths = fetch(args.out, args.from_git)
    except FetchError as error:
        parser.exit(1, f"error: {error}\n")
    print(f"{len(paths)} files in {args.out}")


if __name__ == "__main__":
    main()
