// A modal dialog or side drawer on the native <dialog> element: focus is trapped and
// Escape closes it, with no code of ours.
import type { ComponentChildren } from "preact";
import { useEffect, useId, useRef } from "preact/hooks";

export function Modal(props: {
  open: boolean;
  title: string;
  onClose: () => void;
  drawer?: boolean;
  children: ComponentChildren;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (props.open && !dialog.open) dialog.showModal();
    if (!props.open && dialog.open) dialog.close();
  }, [props.open]);
  return (
    <dialog
      ref={ref}
      class={props.drawer ? "drawer" : undefined}
      aria-labelledby={titleId}
      onClose={props.onClose}
    >
      <div class="dialog-body">
        <div class="dialog-head">
          <h2 id={titleId}>{props.title}</h2>
          <button type="button" class="icon" aria-label="Close" onClick={props.onClose}>
            ✕
          </button>
        </div>
        {props.open && props.children}
      </div>
    </dialog>
  );
}
