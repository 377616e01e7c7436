"""Dataset import (zip or server folder, in common layouts) and export (zip, optional COCO)."""
