;;; eglot_drive.el --- drive Emacs + eglot (Flymake) against incls; write what it saw as JSON  -*- lexical-binding: t -*-
;; Run: emacs --batch -Q -l eglot_drive.el   (config: $INCLS_LIVE_CONFIG)
;; In --batch, post-command-hook and idle timers never run: call `eglot' directly, start
;; Flymake by hand, and run the idle timers ourselves while pumping process output.
(require 'package)
(require 'json)
(require 'cl-lib)
(setq package-directory-list (append package-directory-list '("/usr/share/emacs/site-lisp/elpa")))
(package-initialize)
(require 'eglot)
(require 'flymake)

(defvar incls-live-conf
  (let ((json-object-type 'alist) (json-array-type 'list) (json-key-type 'symbol))
    (json-read-file (getenv "INCLS_LIVE_CONFIG"))))
(defun incls-live-conf (key) (alist-get key incls-live-conf))

(defvar incls-live-result (list (cons 'version emacs-version)
                                (cons 'eglot (bound-and-true-p eglot--version))))
(defvar incls-live-status nil "incls/status notifications, newest first.")
(defun incls-live-put (key value) (setf (alist-get key incls-live-result) value))

(cl-defmethod eglot-handle-notification (_server (_method (eql incls/status)) &rest params)
  (push params incls-live-status))

(defun incls-live-finish (&optional error)
  (when error (incls-live-put 'error error))
  (incls-live-put 'status (vconcat (reverse incls-live-status)))
  (with-temp-file (incls-live-conf 'out)
    (insert (json-encode incls-live-result)))
  (kill-emacs 0))

(defun incls-live-pump ()
  "Let process output in, then run the idle timers (nothing else runs them in --batch)."
  (accept-process-output nil 0.005)
  (dolist (timer (copy-sequence timer-idle-list))
    (when (memq timer timer-idle-list)
      (timer-event-handler timer))))

(defun incls-live-doc-diag ()
  "The document-level diagnostic on line 1, as Flymake shows it: (message . code)."
  (let ((line-end (save-excursion (goto-char (point-min)) (line-end-position)))
        best)
    (dolist (d (flymake-diagnostics (point-min) (max (1+ (point-min)) line-end)))
      (let ((text (flymake-diagnostic-text d)))
        ;; Flymake's text is "incls [code]: message".
        (when (and (<= (flymake-diagnostic-beg d) line-end)
                   (string-match "Reads \\([^ ]+\\) ([0-9.]+)\\'" text))
          (unless best (setq best d)))))
    (when best
      (let* ((text (flymake-diagnostic-text best))
             (code (and (string-match "\\[\\([^]]+\\)\\]:" text) (match-string 1 text))))
        (string-match "Reads [^ ]+ ([0-9.]+)\\'" text)
        (list (cons 'message (match-string 0 text)) (cons 'code code) (cons 'flymake text))))))

(defun incls-live-label (diag)
  (let ((m (alist-get 'message diag)))
    (and m (string-match "\\`Reads \\([^ ]+\\)" m) (match-string 1 m))))

(defun incls-live-wait (pred since &optional limit-ms)
  "Pump until PRED holds for the document diagnostic; return it with ms since SINCE, or nil."
  (let ((deadline (+ (float-time) (/ (or limit-ms (incls-live-conf 'timeout_ms)) 1000.0)))
        found)
    (while (and (not found) (< (float-time) deadline)
                (eglot-current-server))
      (incls-live-pump)
      (let ((d (incls-live-doc-diag)))
        (when (and d (funcall pred d)) (setq found d))))
    (when found
      (cons (cons 'ms (* 1000 (- (float-time) since))) found))))

(condition-case err
    (let* ((root (file-name-as-directory (incls-live-conf 'root)))
           (contact (incls-live-conf 'cmd))
           (eglot-send-changes-idle-time 0)
           (flymake-no-changes-timeout 0)
           (eglot-sync-connect t)
           (t-open (float-time)))
      (find-file (incls-live-conf 'file))
      (text-mode)
      (eglot '(text-mode) (cons 'transient root) 'eglot-lsp-server contact "plaintext")
      (unless (eglot-current-server) (incls-live-finish "eglot did not connect"))
      (flymake-mode 1)
      (flymake-start)
      (let ((first (incls-live-wait #'identity t-open)))
        (unless first (incls-live-finish "no incls diagnostic after opening"))
        (incls-live-put 'first first)
        ;; mode "hints": every diagnostic of the first reading as Flymake holds it (0-based;
        ;; eglot 1.9 makes hints and information alike `eglot-note'), no edits.
        (when (equal (incls-live-conf 'mode) "hints")
          (incls-live-put
           'diagnostics
           (vconcat
            (mapcar (lambda (d)
                      (let* ((beg (flymake-diagnostic-beg d)) (end (flymake-diagnostic-end d))
                             (text (flymake-diagnostic-text d)))
                        (list (cons 'line (1- (line-number-at-pos beg)))
                              (cons 'character (save-excursion (goto-char beg) (- beg (line-beginning-position))))
                              (cons 'end_line (1- (line-number-at-pos end)))
                              (cons 'end_character (save-excursion (goto-char end) (- end (line-beginning-position))))
                              (cons 'type (format "%s" (flymake-diagnostic-type d)))
                              ;; Flymake's text is "incls [code]: message"
                              (cons 'message (if (string-match "\\`[^:]*: " text) (substring text (match-end 0)) text)))))
                    (flymake-diagnostics))))
          (incls-live-finish))
        ;; Type the sentence, one character at a time, at the end of the last non-empty line.
        (goto-char (point-max))
        (skip-chars-backward "\n")
        (let ((start (point)))
          (dolist (c (string-to-list (incls-live-conf 'append)))
            (insert c))
          (let* ((t-edit (float-time))
                 (first-label (incls-live-label first))
                 (update (incls-live-wait (lambda (d) (not (equal (alist-get 'message d)
                                                                  (alist-get 'message first))))
                                          t-edit)))
            (unless update (incls-live-finish "no new incls diagnostic after typing"))
            (incls-live-put 'update update)
            (let ((flipped (incls-live-wait (lambda (d) (not (equal (incls-live-label d) first-label))) t-edit
                                            (incls-live-conf 'flip_timeout_ms))))
              (if (not flipped)
                  (setf (alist-get 'last (alist-get 'update incls-live-result))
                        (alist-get 'message (incls-live-doc-diag)))
                (incls-live-put 'flipped flipped)
                ;; One-change round trips: cut the sentence, paste it back.
                (let* ((text (buffer-substring-no-properties start (point)))
                       (t-cut (float-time)))
                  (delete-region start (point))
                  (incls-live-put 'cut (incls-live-wait
                                        (lambda (d) (equal (incls-live-label d) first-label)) t-cut))
                  (let ((t-paste (float-time)))
                    (goto-char start)
                    (insert text)
                    (incls-live-put 'paste (incls-live-wait
                                            (lambda (d) (equal (incls-live-label d) (incls-live-label flipped)))
                                            t-paste)))))))))
      ;; Hover over the first line.
      (goto-char (1+ (point-min)))
      (let* ((resp (jsonrpc-request (eglot-current-server) :textDocument/hover
                                    (eglot--TextDocumentPositionParams) :timeout 10))
             (contents (plist-get resp :contents)))
        (incls-live-put 'hover (cond ((stringp contents) contents)
                                     ((plist-get contents :value))
                                     ((vectorp contents)
                                      (mapconcat (lambda (c) (if (stringp c) c (plist-get c :value)))
                                                 contents "\n")))))
      (incls-live-finish))
  (error (incls-live-finish (format "%S" err))))
;;; eglot_drive.el ends here
