// mesa-fe consola: mejoras progresivas. Todo funciona sin este archivo (formularios y enlaces
// normales); con él, los filtros de la bandeja se envían al cambiar y las confirmaciones
// piden un sí antes de acciones que no se deshacen.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form[data-autoenviar] select").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  document.querySelectorAll("[data-confirmar]").forEach(function (element) {
    element.addEventListener("submit", function (event) {
      if (!window.confirm(element.getAttribute("data-confirmar"))) { event.preventDefault(); }
    });
  });
});
