// A drop zone with its file input: both hand the first file chosen to ``take``.

/** Dropping a file on ``drop`` (highlighted while dragged over) or choosing one in
 * ``input`` calls ``take(file)``. */
export function acceptFiles(drop, input, take) {
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("dragging");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("dragging"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("dragging");
    if (e.dataTransfer.files.length) take(e.dataTransfer.files[0]);
  });
  input.addEventListener("change", (e) => {
    if (e.target.files.length) take(e.target.files[0]);
  });
}
