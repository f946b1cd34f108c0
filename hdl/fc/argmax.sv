// Index of the largest of N unsigned values (value n at values_i[Width*n +: Width]);
// ties go to the lowest index, like model.reference.argmax_first / torch.argmax.
// Purely combinational. A linear scan with a strict '>' keeps the first maximum;
// for N = 10 the comparator chain is short enough, so no tree is needed.
module argmax #(
  parameter int unsigned N     = 10,
  parameter int unsigned Width = 8,
  localparam int unsigned IdxW = (N > 1) ? $clog2(N) : 1
) (
  input  logic [N*Width-1:0] values_i,
  output logic [IdxW-1:0]    index_o
);

  logic [Width-1:0] best;

  always_comb begin
    best    = values_i[0 +: Width];
    index_o = '0;
    for (int unsigned n = 1; n < N; n++) begin
      if (values_i[Width*n +: Width] > best) begin
        best    = values_i[Width*n +: Width];
        index_o = IdxW'(n);
      end
    end
  end

endmodule
