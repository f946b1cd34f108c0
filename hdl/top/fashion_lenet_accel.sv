// FashionLeNet int8 inference accelerator: top level.
//
//   s_axis pixels (8 bit, row-major, Pixels = 784 per image, tlast on the last)
//   -> frame_guard: exactly Pixels beats per frame; a frame with tlast early or missing is
//      malformed: completed/cut to Pixels pixels, its results dropped, FRAME_ERRORS counted
//   -> conv1: conv3x3_relu_pool 1->6, 28x28, padding 1  -> pool1 stream 14x14x6
//   -> conv2: conv3x3_relu_pool 6->16, 14x14, padding 0 -> pool2 stream 6x6x16
//   -> fc_engine: fc1 (ReLU), fc2 (ReLU), fc3, argmax (two input banks: conv2 fills one
//      while fc1 reads the other)
//   -> m_axis results (8 bit, ResultBeats = 11 per image: class, fc3 codes 0..9, tlast on the last)
//
// Shapes, layer and parameter codes, the register map and the default folding come from
// fashion_lenet_pkg (generated from model/network.py).
//
// Every link is a valid/ready stream, so consecutive images overlap in the pipeline.
//
// Folding: the stages work on consecutive images at once, so the slowest one sets the cycles
// per image back to back; each stage's multipliers are HDL parameters (model.network.Folding
// and its cycle model, stage_cycles). conv1: 9 * Conv1OutChannelsPar MACs; conv2:
// 9 * Conv2InChannelsPar * Conv2OutChannelsPar; fc_engine: Lanes * FcInputsPar. Conv<n>UseDsp
// = 0 builds that conv's MACs in logic, for the products beyond the device's DSP blocks. The
// defaults (conv1 6 in DSP blocks; conv2 6 x 2 in logic; fc 10 x 8: 242 multipliers) run
// conv1 / conv2 / fc at 900 / 1,175 / 1,125 cycles per image; the small folding (1; 3 x 1;
// 18 x 1: 54 multipliers) at 4,761 / 4,608 / 4,811.
// s_axil: AXI4-Lite CSRs and parameter writes (docs/register-map.md, decoded in axil_regs.sv).
// Parameters may also be preloaded from ParamDir (model/export.py .mem files). Parameter
// memories must only be written while STATUS.busy is 0 (no image in flight).
//
// AXI4-Stream / AXI4-Lite ports keep their AMBA names behind the s_axis_/m_axis_/s_axil_
// prefixes (documented style exception) so that cocotbext-axi binds by prefix.
module fashion_lenet_accel import fashion_lenet_pkg::*; #(
  // the folding (model.network.Folding): multipliers per stage
  parameter int unsigned Lanes               = DefaultLanes,        // fc_engine lanes (neurons in parallel)
  parameter int unsigned FcInputsPar         = DefaultFcInputsPar,  // fc inputs per lane and cycle: 1, 2, 4, 8 or 16
  parameter int unsigned Conv1OutChannelsPar = DefaultConv1OutChannelsPar,  // 1, 2, 3 or 6
  parameter int unsigned Conv2InChannelsPar  = DefaultConv2InChannelsPar,   // 1, 2, 3 or 6
  parameter int unsigned Conv2OutChannelsPar = DefaultConv2OutChannelsPar,  // 1, 2, 4, 8 or 16
  parameter int unsigned Conv1UseDsp         = DefaultConv1UseDsp,  // 1: conv1 MACs in DSP blocks, 0: in logic
  parameter int unsigned Conv2UseDsp         = DefaultConv2UseDsp,  // the same for conv2
  parameter string       ParamDir            = ""   // preload folder; "" = load through AXI4-Lite
) (
  input  logic        clk_i,
  input  logic        rst_ni,

  // pixel stream
  input  logic [7:0]  s_axis_tdata,
  input  logic        s_axis_tvalid,
  output logic        s_axis_tready,
  input  logic        s_axis_tlast,

  // result stream
  output logic [7:0]  m_axis_tdata,
  output logic        m_axis_tvalid,
  input  logic        m_axis_tready,
  output logic        m_axis_tlast,

  // AXI4-Lite slave
  input  logic [AddrWidth-1:0] s_axil_awaddr,
  input  logic [2:0]  s_axil_awprot,
  input  logic        s_axil_awvalid,
  output logic        s_axil_awready,
  input  logic [31:0] s_axil_wdata,
  input  logic [3:0]  s_axil_wstrb,
  input  logic        s_axil_wvalid,
  output logic        s_axil_wready,
  output logic [1:0]  s_axil_bresp,
  output logic        s_axil_bvalid,
  input  logic        s_axil_bready,
  input  logic [AddrWidth-1:0] s_axil_araddr,
  input  logic [2:0]  s_axil_arprot,
  input  logic        s_axil_arvalid,
  output logic        s_axil_arready,
  output logic [31:0] s_axil_rdata,
  output logic [1:0]  s_axil_rresp,
  output logic        s_axil_rvalid,
  input  logic        s_axil_rready
);

  localparam int unsigned Pool2Pix = Conv2PoolSize * Conv2PoolSize;  // pooled conv2 ofmap pixels
  // pool1 beats between conv1 and conv2: 32 lets conv1 run at its own pace at the default
  // folding (16: 5,051 cycles per image instead of 4,820; none: 7,046)
  localparam int unsigned Pool1FifoDepth = 32;

  // ------------------------------------------------------------ CSRs and parameter port
  logic [NumLayers-1:0]       param_we;  // one per layer, bit = layer_e code
  param_kind_e                param_sel;
  logic [ParamIndexWidth-1:0] param_addr;
  logic [31:0] param_wdata;
  logic        busy, hold, drop, frame_errors_clear;
  logic [31:0] images_done, last_cycles, cycle_count, frame_errors;

  axil_regs u_regs (
    .clk_i,
    .rst_ni,
    .s_axil_awaddr,
    .s_axil_awprot,
    .s_axil_awvalid,
    .s_axil_awready,
    .s_axil_wdata,
    .s_axil_wstrb,
    .s_axil_wvalid,
    .s_axil_wready,
    .s_axil_bresp,
    .s_axil_bvalid,
    .s_axil_bready,
    .s_axil_araddr,
    .s_axil_arprot,
    .s_axil_arvalid,
    .s_axil_arready,
    .s_axil_rdata,
    .s_axil_rresp,
    .s_axil_rvalid,
    .s_axil_rready,
    .param_we_o    (param_we),
    .param_sel_o   (param_sel),
    .param_addr_o  (param_addr),
    .param_wdata_o (param_wdata),
    .busy_i        (busy),
    .images_done_i (images_done),
    .last_cycles_i (last_cycles),
    .cycle_count_i (cycle_count),
    .frame_errors_i (frame_errors),
    .frame_errors_clear_o (frame_errors_clear)
  );

  // fc_engine selects its layer with param_layer_i (fc_layer_e).
  logic      fc_param_we;
  fc_layer_e fc_param_layer;
  assign fc_param_we    = |param_we[LayerFc3:LayerFc1];
  assign fc_param_layer = param_we[LayerFc2] ? FcLayerFc2
                        : (param_we[LayerFc3] ? FcLayerFc3 : FcLayerFc1);

  // ------------------------------------------------------------ input frames, per-image timing
  // The first pixel of an image waits (hold) while the timestamp FIFO is full.
  logic [7:0] in_tdata;
  logic       in_tvalid, in_tready, in_tlast, in_bad;
  logic       guard_tready;
  logic [7:0] conv1_in_tdata;
  logic       conv1_in_tvalid, conv1_in_tready, conv1_in_tlast;

  assign s_axis_tready = guard_tready && !hold;

  frame_guard #(
    .FramePixels (Pixels)
  ) u_guard (
    .clk_i,
    .rst_ni,
    .s_tdata_i  (s_axis_tdata),
    .s_tvalid_i (s_axis_tvalid && !hold),
    .s_tready_o (guard_tready),
    .s_tlast_i  (s_axis_tlast),
    .m_tdata_o  (in_tdata),
    .m_tvalid_o (in_tvalid),
    .m_tready_i (in_tready),
    .m_tlast_o  (in_tlast),
    .bad_o      (in_bad)
  );

  // fc_engine's result stream; the results of malformed frames are swallowed here
  logic [7:0] res_tdata;
  logic       res_tvalid, res_tready, res_tlast;

  assign m_axis_tdata  = res_tdata;
  assign m_axis_tlast  = res_tlast;
  assign m_axis_tvalid = res_tvalid && !drop;
  assign res_tready    = m_axis_tready || drop;

  perf_counters #(
    .Depth (8)
  ) u_perf (
    .clk_i,
    .rst_ni,
    .in_fire_i     (in_tvalid && in_tready),
    .in_last_i     (in_tlast),
    .in_bad_i      (in_bad),
    .out_fire_i    (res_tvalid && res_tready),
    .out_last_i    (res_tlast),
    .hold_o        (hold),
    .busy_o        (busy),
    .drop_o        (drop),
    .frame_errors_clear_i (frame_errors_clear),
    .frame_errors_o (frame_errors),
    .images_done_o (images_done),
    .last_cycles_o (last_cycles),
    .cycle_count_o (cycle_count)
  );

  // ------------------------------------------------------------ data path
  // A two-entry FIFO (a register slice) between the frame guard and conv1: conv1's ready,
  // which comes from its MAC pipeline, ends there instead of running on through the guard
  // to s_axis_tready and the timestamps.
  stream_fifo #(
    .Width (8),
    .Depth (2)
  ) u_in_slice (
    .clk_i,
    .rst_ni,
    .s_axis_tdata  (in_tdata),
    .s_axis_tvalid (in_tvalid),
    .s_axis_tready (in_tready),
    .s_axis_tlast  (in_tlast),
    .m_axis_tdata  (conv1_in_tdata),
    .m_axis_tvalid (conv1_in_tvalid),
    .m_axis_tready (conv1_in_tready),
    .m_axis_tlast  (conv1_in_tlast)
  );

  // Inter-stage streams, named <stage>_axis_* so test benches can monitor them by prefix.
  logic [Conv1Out*8-1:0] pool1_axis_tdata;
  logic                  pool1_axis_tvalid, pool1_axis_tready, pool1_axis_tlast;
  logic [Conv1Out*8-1:0] conv2_in_tdata;
  logic                  conv2_in_tvalid, conv2_in_tready, conv2_in_tlast;
  logic [Conv2Out*8-1:0] pool2_axis_tdata;
  logic                  pool2_axis_tvalid, pool2_axis_tready, pool2_axis_tlast;

  conv3x3_relu_pool #(
    .InChannels    (Conv1In),
    .InChannelsPar  (Conv1In),
    .OutChannels    (Conv1Out),
    .OutChannelsPar (Conv1OutChannelsPar),
    .UseDsp         (Conv1UseDsp != 0),
    .Width         (Conv1Size),
    .Height        (Conv1Size),
    .Padding       (Conv1Padding),
    .ParamDir      (ParamDir),
    .LayerName     ("conv1")
  ) u_conv1 (
    .clk_i,
    .rst_ni,
    .s_axis_tdata  (conv1_in_tdata),
    .s_axis_tvalid (conv1_in_tvalid),
    .s_axis_tready (conv1_in_tready),
    .s_axis_tlast  (conv1_in_tlast),
    .m_axis_tdata  (pool1_axis_tdata),
    .m_axis_tvalid (pool1_axis_tvalid),
    .m_axis_tready (pool1_axis_tready),
    .m_axis_tlast  (pool1_axis_tlast),
    .param_we_i    (param_we[LayerConv1]),
    .param_sel_i   (param_sel),
    .param_addr_i  (param_addr),
    .param_wdata_i (param_wdata)
  );

  // conv1 emits pool1 in bursts (a row of 14 beats every other conv row) while conv2 takes a
  // beat only between windows and has nothing to do in a frame's first two rows: the FIFO
  // lets conv1 run ahead instead of stalling.
  stream_fifo #(
    .Width (Conv1Out * 8),
    .Depth (Pool1FifoDepth)
  ) u_pool1_fifo (
    .clk_i,
    .rst_ni,
    .s_axis_tdata  (pool1_axis_tdata),
    .s_axis_tvalid (pool1_axis_tvalid),
    .s_axis_tready (pool1_axis_tready),
    .s_axis_tlast  (pool1_axis_tlast),
    .m_axis_tdata  (conv2_in_tdata),
    .m_axis_tvalid (conv2_in_tvalid),
    .m_axis_tready (conv2_in_tready),
    .m_axis_tlast  (conv2_in_tlast)
  );

  conv3x3_relu_pool #(
    .InChannels    (Conv2In),
    .InChannelsPar  (Conv2InChannelsPar),
    .OutChannels    (Conv2Out),
    .OutChannelsPar (Conv2OutChannelsPar),
    .UseDsp         (Conv2UseDsp != 0),
    .Width         (Conv2Size),
    .Height        (Conv2Size),
    .Padding       (Conv2Padding),
    .ParamDir      (ParamDir),
    .LayerName     ("conv2")
  ) u_conv2 (
    .clk_i,
    .rst_ni,
    .s_axis_tdata  (conv2_in_tdata),
    .s_axis_tvalid (conv2_in_tvalid),
    .s_axis_tready (conv2_in_tready),
    .s_axis_tlast  (conv2_in_tlast),
    .m_axis_tdata  (pool2_axis_tdata),
    .m_axis_tvalid (pool2_axis_tvalid),
    .m_axis_tready (pool2_axis_tready),
    .m_axis_tlast  (pool2_axis_tlast),
    .param_we_i    (param_we[LayerConv2]),
    .param_sel_i   (param_sel),
    .param_addr_i  (param_addr),
    .param_wdata_i (param_wdata)
  );

  fc_engine #(
    .Lanes      (Lanes),
    .InputsPar  (FcInputsPar),
    .InChannels (Conv2Out),
    .InPixels   (Pool2Pix),
    .Fc1Out     (Fc1Out),
    .Fc2Out     (Fc2Out),
    .Fc3Out     (Fc3Out),
    .ParamDir   (ParamDir)
  ) u_fc (
    .clk_i,
    .rst_ni,
    .s_axis_tdata  (pool2_axis_tdata),
    .s_axis_tvalid (pool2_axis_tvalid),
    .s_axis_tready (pool2_axis_tready),
    .s_axis_tlast  (pool2_axis_tlast),
    .m_axis_tdata  (res_tdata),
    .m_axis_tvalid (res_tvalid),
    .m_axis_tready (res_tready),
    .m_axis_tlast  (res_tlast),
    .param_we_i    (fc_param_we),
    .param_layer_i (fc_param_layer),
    .param_sel_i   (param_sel),
    .param_addr_i  (param_addr),
    .param_wdata_i (param_wdata)
  );

  // The stages chain as the network does: conv1 takes the one-channel image, conv2 conv1's
  // pooled ofmap, fc1 conv2's, fc2 and fc3 the layer before; the conv blocks always fuse ReLU.
  if (Conv1In != 1 || Conv1Size != ImageSize || Conv2In != Conv1Out || Conv2Size != Conv1PoolSize
      || Fc1In != Conv2Out * Pool2Pix || Fc2In != Fc1Out || Fc3In != Fc2Out
      || ResultBeats != 1 + Fc3Out || !Conv1Relu || !Conv2Relu) begin : g_err_network
    $fatal(1, "fashion_lenet_accel: fashion_lenet_pkg describes another network than these stages");
  end

endmodule
