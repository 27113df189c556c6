"""Static files taken from npm's node_modules: only the distributed files the templates load."""

from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

# Static path → file in node_modules. The rest of each package (sources, builds we do not load,
# axe-core for the browser tests) is neither served nor collected.
NPM_FILES = {"vendor/sortablejs/Sortable.min.js": "sortablejs/Sortable.min.js"}


class NpmDistFinder(BaseFinder):
    """Finds the files of NPM_FILES; absent ones (no `npm ci` on this machine) are simply not found."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.node_modules = Path(settings.BASE_DIR) / "node_modules"

    def check(self, **kwargs) -> list:
        return []

    def find(self, path: str, find_all: bool = False) -> str | list[str]:
        source = NPM_FILES.get(path)
        found = [str(self.node_modules / source)] if source and (self.node_modules / source).is_file() else []
        return found if find_all else (found[0] if found else [])

    def list(self, ignore_patterns):
        for static_path, source in NPM_FILES.items():
            if not (self.node_modules / source).is_file():
                continue
            prefix, _, name = static_path.rpartition("/")
            storage = FileSystemStorage(location=self.node_modules / Path(source).parent)
            storage.prefix = prefix  # collectstatic copies to <prefix>/<name>
            yield name, storage
